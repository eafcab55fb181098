"""The records on every topic: one `msgspec.Struct` per topic, defined once.

The comment above each class names its topic (the base name, as in `KINDS`).
A field's annotation is its whole contract: JSON type, static bounds
(`msgspec.Meta`), and a marker (`IDENT`, `MAP`, ...) for what depends on the
runtime `Limits` or spans a document, which `schemas.validation` checks after
msgspec has decoded. Fields that may be None default to None; records are
keyword-only.

>>> Score(tenant="acme", request_id="r1", model="arf", version=1, role="champion",
...       pool="fast", latency_ms=1.0, scored_at=2.0).output is None
True
"""

import re
from typing import Annotated, Any, Literal, Optional, Union

from msgspec import Meta, Struct

__all__ = [
    "Label",
    "SCOPES",
    "ROLES",
    "REASONS",
    "SOURCES",
    "COMMANDS",
    "MAX_ERROR_CHARS",
    "MAX_VALUE_CHARS",
    "MAX_NAME_CHARS",
    "INT64_MAX",
    "INT64_MIN",
    "Replayed",
    "Event",
    "StateUpdate",
    "LabelRecord",
    "Enriched",
    "Score",
    "Result",
    "Training",
    "DecoyEntry",
    "DriftEvent",
    "ControlCommand",
    "CheckpointMeta",
    "DeadLetter",
    "KINDS",
    "TENANT_RULE",
    "is_tenant_id",
]

#: A target: bool, int or str for classification, float for regression.
Label = Union[bool, int, float, str]

#: `StateUpdate.scope` values.
SCOPES = ("entity", "global")
#: `Score.role` / `Result.role` values.
ROLES = ("champion", "challenger", "shadow", "canary")
#: `Result.reason` values: why this answer was returned.
REASONS = ("champion", "fallback-deadline", "fallback-error", "ab-variant", "default")
#: `Training.source` values: label inline in the event, or joined later.
SOURCES = ("inline", "delayed")
#: `ControlCommand.command` values.
COMMANDS = ("deploy", "promote", "retire", "set-policy", "rollback")

#: Longest error message in a `Score` or `DeadLetter`.
MAX_ERROR_CHARS = 1000
#: Longest original value kept in a `DeadLetter`.
MAX_VALUE_CHARS = 4096
#: Longest key, topic, class or stage name in a `DeadLetter`. Fixed rather than
#: taken from `Limits`: a dead letter must stay decodable whatever caused it.
MAX_NAME_CHARS = 256

# Kafka offsets and most consumers are signed 64-bit, and JSON readers such as
# orjson cannot take anything wider.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


class Marker(str):
    """Names a check that `schemas.validation` runs after msgspec decoded a field."""


#: Non-empty, printable, at most ``Limits.max_string_len`` characters.
IDENT = Marker("ident")
#: ``dict[str, ...]``: at most ``Limits.max_features`` entries, identifier keys.
MAP = Marker("map")
#: A string label must be an identifier.
LABEL = Marker("label")
#: A free-form JSON object, bounded in depth and integer width.
JSON = Marker("json")
#: At most as long as an ``enriched`` payload may be: the decoy keeps that JSON
#: text verbatim and it is validated as `Enriched` only when replayed.
ENRICHED_TEXT = Marker("enriched-text")
#: The feature name of a ``feature:<name>`` drift signal is an identifier.
SIGNAL = Marker("signal")


#: Signed 64-bit integers from 0, -1 (offsets and versions, -1: none) or 1.
Count = Annotated[int, Meta(ge=0, le=INT64_MAX)]
Offset = Annotated[int, Meta(ge=-1, le=INT64_MAX)]
Positive = Annotated[int, Meta(ge=1, le=INT64_MAX)]
Name = Annotated[str, Meta(max_length=MAX_NAME_CHARS)]
ErrorText = Annotated[str, Meta(max_length=MAX_ERROR_CHARS)]
Role = Literal[ROLES]
Ident = Annotated[str, Meta(min_length=1), IDENT]
#: A tenant id names topics' keys, URLs (/api/tenants/<id>), metric labels and log lines,
#: so it is kept to characters that are safe in all of them.
TENANT_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
TENANT_RULE = ("a tenant id is 1 to 64 letters, digits, '.', '_' or '-', starting with a "
               "letter or digit")
Tenant = Annotated[str, Meta(min_length=1, pattern=TENANT_PATTERN,
                                description=TENANT_RULE + " (got {!r})"), IDENT]
_TENANT = re.compile(TENANT_PATTERN)


def is_tenant_id(text: object) -> bool:
    """Whether `text` is a valid tenant id (not "*": that is only a state update's address).

    >>> is_tenant_id("acme-eu.1"), is_tenant_id("../../etc/passwd"), is_tenant_id("*")
    (True, False, False)
    """
    return isinstance(text, str) and _TENANT.match(text) is not None


#: State updates may also address every tenant at once, as "*" (global context).
TenantOrAll = Annotated[str, Meta(min_length=1, pattern=TENANT_PATTERN[:-1] + "|^\\*$",
                                  description=TENANT_RULE + ", or '*' (got {!r})"), IDENT]
#: Epoch seconds: not before 1970. Every float is finite: msgspec refuses
#: numbers that overflow, and JSON has no NaN.
Time = Annotated[float, Meta(ge=0)]
NonNegative = Annotated[float, Meta(ge=0)]
Probability = Annotated[float, Meta(ge=0, le=1)]
FeatureMap = Annotated[dict[str, float], MAP]
VersionMap = Annotated[dict[str, Count], MAP]
JsonObject = Annotated[dict[str, Any], JSON]
LabelValue = Annotated[
    Union[bool, Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)], float, Ident], LABEL
]
HexDigest = Annotated[str, Meta(pattern="^(?:[0-9a-f]{2})+$", description="not lowercase hex"), IDENT]
DriftSignal = Annotated[
    str,
    Meta(
        pattern="^(?:error|divergence|feature:.*)$",
        description="must be error, divergence or feature:<name> (got {!r})",
    ),
    SIGNAL,
]


class _Record(Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of all topic records: unknown fields are refused, fields keyword-only."""


# topic: events
class Replayed(_Record):
    """The external state a request was enriched with in production, carried by a replay.

    A staging worker that accepts replays (RENDEZVOUS_ACCEPT_REPLAYED) enriches with these
    exact values instead of its own tables, so its models see what production's saw.
    """

    state: FeatureMap
    state_version: Offset
    aggregates: FeatureMap
    context: FeatureMap
    context_version: Offset
    original_ts: Time


class Event(_Record):
    """A scoring request, optionally with its label inline.

    ``ts`` is the request time in epoch seconds.
    """

    tenant: Tenant
    request_id: Ident
    entity: Ident
    ts: Time
    features: FeatureMap
    label: Optional[LabelValue] = None
    replay: Optional[Replayed] = None


# topic: state-updates
class StateUpdate(_Record):
    """New external state for one entity, or for a global context key.

    With ``scope="global"``, ``entity`` names the context key and ``tenant``
    may be ``"*"`` (all tenants). ``version`` lets enrich drop stale updates.
    """

    tenant: TenantOrAll
    entity: Ident
    version: Count
    ts: Time
    values: FeatureMap
    scope: Literal[SCOPES] = "entity"


# topic: labels
class LabelRecord(_Record):
    """A delayed label, joined to its request by ``request_id``."""

    tenant: Tenant
    request_id: Ident
    label: LabelValue
    ts: Time


# topic: enriched
class Enriched(_Record):
    """What every model of the tenant sees for one request.

    ``state_version`` and ``context_version`` are -1 when there was no state or
    context. ``deployment`` is the tenant's deployment as a JSON object (its
    own validation lives elsewhere).
    """

    tenant: Tenant
    request_id: Ident
    entity: Ident
    ts: Time
    features: FeatureMap
    state: FeatureMap
    state_version: Offset
    aggregates: FeatureMap
    context: FeatureMap
    context_version: Offset
    deployment: JsonObject
    enriched_at: Time


# topic: scores
class Score(_Record):
    """One model's answer for one request.

    ``output`` is None when the model had no answer (e.g. before it learnt
    anything) or failed, in which case ``error`` says why.
    """

    tenant: Tenant
    request_id: Ident
    model: Ident
    version: Count
    role: Role
    pool: Ident
    latency_ms: NonNegative
    scored_at: Time
    output: Optional[LabelValue] = None
    proba: Optional[Probability] = None
    error: Optional[ErrorText] = None


# topic: results
class Result(_Record):
    """The one answer returned for a request, and why it was chosen.

    ``model``, ``version`` and ``role`` are None when no model answered
    (``reason="default"``).
    """

    tenant: Tenant
    request_id: Ident
    entity: Ident
    reason: Literal[REASONS]
    latency_ms: NonNegative
    decided_at: Time
    model: Optional[Ident] = None
    version: Optional[Count] = None
    role: Optional[Role] = None
    output: Optional[LabelValue] = None


# topic: training
class Training(_Record):
    """A labelled example, in the order every model of the tenant learns it."""

    tenant: Tenant
    request_id: Ident
    label: LabelValue
    source: Literal[SOURCES]
    enriched: Enriched
    labelled_at: Time


# topic: decoy-log
class DecoyEntry(_Record):
    """The enriched JSON text exactly as the models consumed it.

    ``model_versions`` maps model name to the version active at the time.
    """

    tenant: Tenant
    request_id: Ident
    enriched: Annotated[str, ENRICHED_TEXT]
    model_versions: VersionMap
    logged_at: Time


# topic: drift
class DriftEvent(_Record):
    """A change detected in a model's error or input stream.

    ``signal`` is ``"error"``, ``"divergence"`` or ``"feature:<name>"``;
    ``training_offset`` is where in ``training`` the change was detected.
    """

    tenant: Tenant
    model: Ident
    signal: DriftSignal
    training_offset: Count
    n_before: Count
    n_after: Count
    mean_before: float
    mean_after: float
    detected_at: Time
    position: Optional[Count] = None
    window_start: Optional[Count] = None


# topic: control
class ControlCommand(_Record):
    """A deployment change for one tenant, applied in order."""

    tenant: Tenant
    command: Literal[COMMANDS]
    args: JsonObject
    command_id: Ident
    issued_at: Time


# topic: checkpoints
class CheckpointMeta(_Record):
    """Describes one signed model checkpoint.

    ``training_offset`` is the last ``training`` offset the state reflects
    (-1: none); ``signature`` is lowercase hex. ``role`` and ``model_version`` are the
    model's in the deployment at the time; ``reason`` is why it was written (``every-n``,
    ``every-s``, ``shutdown``, ``rollback``). A rollback's checkpoint has the restored
    version as its ``parent_version``.
    """

    tenant: Tenant
    model: Ident
    version: Count
    training_offset: Offset
    metrics: FeatureMap
    created_at: Time
    size_bytes: Count
    signature: HexDigest
    parent_version: Optional[Count] = None
    role: Optional[Role] = None
    model_version: Optional[Positive] = None
    reason: Optional[Ident] = None


# topic: dead-letter
class DeadLetter(_Record):
    """A record that could not be processed, and why.

    ``value`` is the original bytes as UTF-8 (undecodable bytes as ``\\xNN``),
    truncated; build one with `schemas.deadletter.dead_letter_for`.
    """

    origin_topic: Name
    # -1: the record did not come from a topic (e.g. an HTTP request).
    partition: Offset
    offset: Offset
    value: Annotated[str, Meta(max_length=MAX_VALUE_CHARS)]
    error_class: Name
    error: ErrorText
    stage: Name
    failed_at: Time
    key: Optional[Name] = None


#: Topic base name -> record class, so ``decode("events", ...)`` works.
KINDS: dict[str, type[Struct]] = {
    "events": Event,
    "state-updates": StateUpdate,
    "labels": LabelRecord,
    "enriched": Enriched,
    "scores": Score,
    "results": Result,
    "training": Training,
    "decoy-log": DecoyEntry,
    "drift": DriftEvent,
    "control": ControlCommand,
    "checkpoints": CheckpointMeta,
    "dead-letter": DeadLetter,
}
