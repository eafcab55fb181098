"""Table writes that name their changelog partition.

Faust takes a table write's changelog partition from the event being processed, so a
plain ``table[key] = value`` fails in a timer (deadlines, label expiry). Every key of
ours belongs to one tenant, and a tenant has one partition number in every topic, so the
partition stored beside the value is the one Faust would have chosen in-stream.
"""

from __future__ import annotations

from typing import Any

import faust


def put(table: faust.Table, partition: int, key: Any, value: Any) -> None:
    table.data[key] = value
    table.send_changelog(partition, key, value)


def delete(table: faust.Table, partition: int, key: Any) -> None:
    if table.data.pop(key, None) is not None:
        table.send_changelog(partition, key, None, value_serializer="raw")


def request_key(tenant: str, request_id: str) -> str:
    # \x1f cannot appear in validated identifiers, so the pair is unambiguous.
    return f"{tenant}\x1f{request_id}"


def tenant_of(key: str) -> str:
    return key.split("\x1f", 1)[0]


def entity_key(tenant: str, entity: str) -> str:
    return f"{tenant}\x1f{entity}"
