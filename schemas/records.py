"""The records on every topic.

Each class is a typed `faust.Record`; the comment above it names its topic
(the base name, as in `KINDS`). Topics carry raw bytes and `schemas.codec` owns
the encoding, so the records carry no faust metadata (``include_metadata=False``).

Faust requires fields with defaults to come last, so every field that may be
None defaults to None and sits at the end of its record: build records with
keyword arguments.

Validation rules for every field live in `schemas.validation`.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import faust

__all__ = [
    "Label",
    "SCOPES",
    "ROLES",
    "REASONS",
    "SOURCES",
    "COMMANDS",
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


class _Record(faust.Record, abstract=True, include_metadata=False):
    """Base of all topic records: no faust metadata in the payload."""


# topic: events
class Replayed(_Record):
    """The external state a request was enriched with in production, carried by a replay.

    A staging worker that accepts replays (RENDEZVOUS_ACCEPT_REPLAYED) enriches with these
    exact values instead of its own tables, so its models see what production's saw.
    """

    state: dict[str, float]
    state_version: int
    aggregates: dict[str, float]
    context: dict[str, float]
    context_version: int
    original_ts: float


class Event(_Record):
    """A scoring request, optionally with its label inline.

    ``ts`` is the request time in epoch seconds.
    """

    tenant: str
    request_id: str
    entity: str
    ts: float
    features: dict[str, float]
    label: Optional[Label] = None
    replay: Optional[Replayed] = None


# topic: state-updates
class StateUpdate(_Record):
    """New external state for one entity, or for a global context key.

    With ``scope="global"``, ``entity`` names the context key and ``tenant``
    may be ``"*"`` (all tenants). ``version`` lets enrich drop stale updates.
    """

    tenant: str
    entity: str
    version: int
    ts: float
    values: dict[str, float]
    scope: str = "entity"


# topic: labels
class LabelRecord(_Record):
    """A delayed label, joined to its request by ``request_id``."""

    tenant: str
    request_id: str
    label: Label
    ts: float


# topic: enriched
class Enriched(_Record):
    """What every model of the tenant sees for one request.

    ``state_version`` and ``context_version`` are -1 when there was no state or
    context. ``deployment`` is the tenant's deployment as a JSON object (its
    own validation lives elsewhere).
    """

    tenant: str
    request_id: str
    entity: str
    ts: float
    features: dict[str, float]
    state: dict[str, float]
    state_version: int
    aggregates: dict[str, float]
    context: dict[str, float]
    context_version: int
    deployment: dict[str, Any]
    enriched_at: float


# topic: scores
class Score(_Record):
    """One model's answer for one request.

    ``output`` is None when the model had no answer (e.g. before it learnt
    anything) or failed, in which case ``error`` says why.
    """

    tenant: str
    request_id: str
    model: str
    version: int
    role: str
    pool: str
    latency_ms: float
    scored_at: float
    output: Optional[Label] = None
    proba: Optional[float] = None
    error: Optional[str] = None


# topic: results
class Result(_Record):
    """The one answer returned for a request, and why it was chosen.

    ``model``, ``version`` and ``role`` are None when no model answered
    (``reason="default"``).
    """

    tenant: str
    request_id: str
    entity: str
    reason: str
    latency_ms: float
    decided_at: float
    model: Optional[str] = None
    version: Optional[int] = None
    role: Optional[str] = None
    output: Optional[Label] = None


# topic: training
class Training(_Record):
    """A labelled example, in the order every model of the tenant learns it."""

    tenant: str
    request_id: str
    label: Label
    source: str
    enriched: Enriched
    labelled_at: float


# topic: decoy-log
class DecoyEntry(_Record):
    """The enriched JSON text exactly as the models consumed it.

    ``model_versions`` maps model name to the version active at the time.
    """

    tenant: str
    request_id: str
    enriched: str
    model_versions: dict[str, int]
    logged_at: float


# topic: drift
class DriftEvent(_Record):
    """A change detected in a model's error or input stream.

    ``signal`` is ``"error"``, ``"divergence"`` or ``"feature:<name>"``;
    ``training_offset`` is where in ``training`` the change was detected.
    """

    tenant: str
    model: str
    signal: str
    training_offset: int
    n_before: int
    n_after: int
    mean_before: float
    mean_after: float
    detected_at: float
    position: Optional[int] = None
    window_start: Optional[int] = None


# topic: control
class ControlCommand(_Record):
    """A deployment change for one tenant, applied in order."""

    tenant: str
    command: str
    args: dict[str, Any]
    command_id: str
    issued_at: float


# topic: checkpoints
class CheckpointMeta(_Record):
    """Describes one signed model checkpoint.

    ``training_offset`` is the last ``training`` offset the state reflects
    (-1: none); ``signature`` is lowercase hex. ``role`` and ``model_version`` are the
    model's in the deployment at the time; ``reason`` is why it was written (``every-n``,
    ``every-s``, ``shutdown``, ``rollback``). A rollback's checkpoint has the restored
    version as its ``parent_version``.
    """

    tenant: str
    model: str
    version: int
    training_offset: int
    metrics: dict[str, float]
    created_at: float
    size_bytes: int
    signature: str
    parent_version: Optional[int] = None
    role: Optional[str] = None
    model_version: Optional[int] = None
    reason: Optional[str] = None


# topic: dead-letter
class DeadLetter(_Record):
    """A record that could not be processed, and why.

    ``value`` is the original bytes as UTF-8 (undecodable bytes as ``\\xNN``),
    truncated; build one with `schemas.deadletter.dead_letter_for`.
    """

    origin_topic: str
    partition: int
    offset: int
    value: str
    error_class: str
    error: str
    stage: str
    failed_at: float
    key: Optional[str] = None


#: Topic base name -> record class, so ``decode("events", ...)`` works.
KINDS: dict[str, type[faust.Record]] = {
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
