"""The Kafka key of every tenant-keyed record must be its tenant.

Tables write their changelog to the partition of the record being processed; a record
keyed by another tenant would put this tenant's state on that tenant's partition, where it
is lost (or seen by the wrong worker) after a rebalance.
"""

from __future__ import annotations


class KeyMismatch(ValueError):
    """The record's tenant is not its Kafka key."""


def check_key(key: bytes | None, tenant: str) -> None:
    if key != tenant.encode():
        raise KeyMismatch(f"key {key!r} is not tenant {tenant!r}")
