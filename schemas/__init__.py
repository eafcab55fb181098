"""Rendezvous records: one `msgspec.Struct` per topic, their codec and validation.

>>> from schemas import Event, Limits, decode, encode
>>> event = Event(tenant="acme", request_id="r1", entity="u7", ts=1.0, features={"amount": 3.0})
>>> decode("events", encode(event), Limits()) == event
True
"""

from .codec import decode, encode, kind_name, to_plain
from .deadletter import dead_letter_for, dead_letter_headers
from .errors import InvalidRecord
from .limits import PAYLOAD_FACTOR, Limits
from .records import (
    COMMANDS,
    MAX_ERROR_CHARS,
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    KINDS,
    REASONS,
    ROLES,
    SCOPES,
    SOURCES,
    CheckpointMeta,
    ControlCommand,
    DeadLetter,
    DecoyEntry,
    DriftEvent,
    Enriched,
    Event,
    Label,
    LabelRecord,
    Replayed,
    Result,
    Score,
    StateUpdate,
    TENANT_RULE,
    Training,
    is_tenant_id,
)
from .validation import validate_object

__all__ = [
    "COMMANDS",
    "KINDS",
    "MAX_ERROR_CHARS",
    "MAX_NAME_CHARS",
    "MAX_VALUE_CHARS",
    "PAYLOAD_FACTOR",
    "REASONS",
    "ROLES",
    "SCOPES",
    "SOURCES",
    "CheckpointMeta",
    "ControlCommand",
    "DeadLetter",
    "DecoyEntry",
    "DriftEvent",
    "Enriched",
    "Event",
    "InvalidRecord",
    "Label",
    "LabelRecord",
    "Limits",
    "Replayed",
    "Result",
    "Score",
    "StateUpdate",
    "TENANT_RULE",
    "Training",
    "dead_letter_for",
    "dead_letter_headers",
    "decode",
    "encode",
    "is_tenant_id",
    "kind_name",
    "to_plain",
    "validate_object",
]
