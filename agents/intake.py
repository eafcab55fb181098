"""The one way an agent takes records from a tenant-keyed topic: decode, check that the Kafka
key is the record's tenant, run the agent's own checks, and dead-letter whatever fails, with
its origin, so that a bad record never reaches a model and never stops the agent.

The key must be the tenant because tables write their changelog to the partition of the
record being processed: a record keyed by another tenant would put this tenant's state on
that tenant's partition, where it is lost (or seen by the wrong worker) after a rebalance.
"""

from __future__ import annotations

from typing import AsyncIterator, Callable

from schemas import InvalidRecord, decode


class KeyMismatch(ValueError):
    """The record's tenant is not its Kafka key."""


def check_key(key: bytes | None, tenant: str) -> None:
    """
    >>> check_key(b"acme", "acme")
    >>> check_key(b"globex", "acme")
    Traceback (most recent call last):
    ...
    agents.intake.KeyMismatch: key b'globex' is not tenant 'acme'
    """
    if key != tenant.encode():
        raise KeyMismatch(f"key {key!r} is not tenant {tenant!r}")


async def intake(rt, stream, kind, stage: str, check: Callable | None = None,
                 rejects: tuple[type[BaseException], ...] = ()) -> AsyncIterator:
    """Yield ``(message, record)`` for every valid record of `stream`.

    ``check(record)`` may raise one of `rejects` (domain errors: an unknown tenant, a replay
    where none is accepted); the record is then dead-lettered under `stage` like one that
    fails to decode, and the agent never sees it.
    """
    caught = (InvalidRecord, KeyMismatch, *rejects)
    async for event in stream.events():
        message = event.message
        try:
            record = decode(kind, message.value, rt.limits)
            check_key(message.key, record.tenant)
            if check is not None:
                check(record)
        except caught as exc:
            await rt.dead_letter(message, exc, stage=stage)
            continue
        yield message, record
