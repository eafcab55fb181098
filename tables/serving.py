"""Tables of the serving app: the external state enrichment injects, open requests, and
features awaiting their label.

`pending` and `awaiting-label` hold typed entries (msgspec Structs, msgpack in the
changelog); the other tables hold the dicts of the `learning` types they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import faust
import msgspec
from faust.serializers.codecs import Codec

from learning.policy import Pending


# Names of the serving app's tables; their changelogs are declared with the topics.
TABLE_NAMES = ("entity-state", "aggregates", "context", "deployments", "pending", "awaiting-label",
               "drift-responses")


class Open(msgspec.Struct, frozen=True, tag="open", array_like=True):
    """An open request: its slot as opened, the enriched bytes the models got, and who opened it."""

    slot: Pending
    partition: int
    label: Any  # the inline label, None without one
    enriched: bytes
    enriched_at: float  # by this worker's clock: the result, if any, was written after it
    opened_by: str  # process/consumer generation: another's requests are looked up on results

    closed_at = None

    @property
    def deadline_at(self) -> float:
        return self.slot.deadline_at


class Closed(msgspec.Struct, frozen=True, tag="closed", array_like=True):
    """An answered request, remembered for the dedupe window so a redelivery is not answered."""

    closed_at: float
    partition: int

    deadline_at = None
    opened_by = None
    enriched_at = None


class AwaitingLabel(msgspec.Struct, frozen=True, tag="awaiting", array_like=True):
    """Enriched bytes waiting for their delayed label until `expires_at`."""

    enriched: bytes
    partition: int
    expires_at: float


class EarlyLabel(msgspec.Struct, frozen=True, tag="early", array_like=True):
    """A label that overtook its event, with its origin for the dead letter if none comes."""

    label: Any
    partition: int
    expires_at: float
    topic: str
    offset: int
    value: bytes


class Labelled(msgspec.Struct, frozen=True, tag="labelled", array_like=True):
    """Joined before its result: the label waits for the answer (served accuracy only)."""

    label: Any
    partition: int
    expires_at: float


PendingEntry = Union[Open, Closed]
AwaitingEntry = Union[AwaitingLabel, EarlyLabel, Labelled]


class StructCodec(Codec):
    """msgpack for one Struct union: the changelog holds positional arrays, not field names."""

    def __init__(self, kind) -> None:
        super().__init__(kind=kind)
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(kind)

    def _dumps(self, obj) -> bytes:
        return self._encoder.encode(obj)

    def _loads(self, s: bytes):
        return self._decoder.decode(s)


@dataclass(frozen=True)
class ServingTables:
    entity_state: faust.Table
    """(tenant, entity) -> EntityState dict: last write wins by (version, ts), fed by state-updates."""
    aggregates: faust.Table
    """(tenant, entity) -> rolling-window state of the entity's own events (count, means)."""
    context: faust.Table
    """context name -> EntityState dict of global context; a global table, on every worker."""
    deployments: faust.Table
    """tenant -> deployment dict (models, roles, pools, policy), set by control commands."""
    pending: faust.Table
    """(tenant, request_id) -> `Open`, then, once the result is acknowledged, `Closed`, kept for
    the dedupe window so that an event redelivered after a crash is not answered twice."""
    awaiting_label: faust.Table
    """(tenant, request_id) -> `AwaitingLabel`, `EarlyLabel` or `Labelled`, until labelled,
    answered or expired."""
    drift_responses: faust.Table
    """(tenant, model, signal, training offset) -> the response already given to that detection,
    so a replayed or redelivered drift event changes nothing twice."""


def _typed(app: faust.App, name: str, kind, partitions: int, help: str) -> faust.Table:
    table = app.conf.Table(app, name=name, default=None, beacon=app.tables.beacon,
                           partitions=partitions, help=help)
    # Before add(): the changelog topic takes its serializer from the table then.
    table.value_serializer = StructCodec(kind)
    return app.tables.add(table)


def define_serving_tables(app: faust.App, partitions: int) -> ServingTables:
    def table(name: str, help: str) -> faust.Table:
        return app.Table(name, default=None, partitions=partitions, help=help)

    return ServingTables(
        entity_state=table("entity-state", "per-entity external state"),
        aggregates=table("aggregates", "rolling per-entity aggregates"),
        context=app.GlobalTable("context", default=None, partitions=partitions,
                                help="global context"),
        deployments=table("deployments", "tenant deployments"),
        pending=_typed(app, "pending", PendingEntry, partitions, "open rendezvous slots"),
        awaiting_label=_typed(app, "awaiting-label", AwaitingEntry, partitions,
                              "features awaiting a delayed label"),
        drift_responses=table("drift-responses", "responses given to drift detections"),
    )
