"""What each field of each record must hold, and the check of a whole object.

`FIELD_RULES` gives every field of every record its check (from
`schemas.checks`); `RECORD_RULES` holds the checks that span fields.
`validate_object` applies both to a decoded JSON object and builds the record.
"""

from __future__ import annotations

from typing import Any, Callable

import faust

from . import checks as c
from .errors import InvalidRecord
from .limits import Limits
from .records import (
    COMMANDS,
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
    LabelRecord,
    Replayed,
    Result,
    Score,
    StateUpdate,
    Training,
)

__all__ = [
    "MAX_ERROR_CHARS",
    "MAX_VALUE_CHARS",
    "MAX_NAME_CHARS",
    "FIELD_RULES",
    "RECORD_RULES",
    "validate_object",
]

#: Longest error message in a `Score` or `DeadLetter`.
MAX_ERROR_CHARS = 1000
#: Longest original value kept in a `DeadLetter`.
MAX_VALUE_CHARS = 4096
#: Longest key, topic, class or stage name in a `DeadLetter`. Fixed rather than
#: taken from `Limits`: a dead letter must stay decodable whatever caused it.
MAX_NAME_CHARS = 256


def _nested(cls: type[faust.Record]) -> c.Check:
    def check(value: Any, path: str, limits: Limits) -> faust.Record:
        return validate_object(cls, value, limits, path)

    return check


def _enriched_text(value: Any, path: str, limits: Limits) -> str:
    # The decoy keeps the JSON text verbatim; it is validated as `Enriched`
    # when replayed, so here only its size is bounded.
    return c.text(limits.payload_limit("enriched"))(value, path, limits)


_TENANT = c.identifier
_TIME = c.timestamp

FIELD_RULES: dict[type[faust.Record], dict[str, c.Check]] = {
    Event: {
        "tenant": _TENANT,
        "request_id": c.identifier,
        "entity": c.identifier,
        "ts": _TIME,
        "features": c.feature_map,
        "label": c.nullable(c.label),
        "replay": c.nullable(_nested(Replayed)),
    },
    Replayed: {
        "state": c.feature_map,
        "state_version": c.integer(-1),
        "aggregates": c.feature_map,
        "context": c.feature_map,
        "context_version": c.integer(-1),
        "original_ts": _TIME,
    },
    StateUpdate: {
        "tenant": _TENANT,
        "entity": c.identifier,
        "version": c.integer(0),
        "ts": _TIME,
        "values": c.feature_map,
        "scope": c.one_of(*SCOPES),
    },
    LabelRecord: {
        "tenant": _TENANT,
        "request_id": c.identifier,
        "label": c.label,
        "ts": _TIME,
    },
    Enriched: {
        "tenant": _TENANT,
        "request_id": c.identifier,
        "entity": c.identifier,
        "ts": _TIME,
        "features": c.feature_map,
        "state": c.feature_map,
        "state_version": c.integer(-1),
        "aggregates": c.feature_map,
        "context": c.feature_map,
        "context_version": c.integer(-1),
        "deployment": c.json_object,
        "enriched_at": _TIME,
    },
    Score: {
        "tenant": _TENANT,
        "request_id": c.identifier,
        "model": c.identifier,
        "version": c.integer(0),
        "role": c.one_of(*ROLES),
        "pool": c.identifier,
        "latency_ms": c.non_negative,
        "scored_at": _TIME,
        "output": c.nullable(c.label),
        "proba": c.nullable(c.probability),
        "error": c.nullable(c.text(MAX_ERROR_CHARS)),
    },
    Result: {
        "tenant": _TENANT,
        "request_id": c.identifier,
        "entity": c.identifier,
        "reason": c.one_of(*REASONS),
        "latency_ms": c.non_negative,
        "decided_at": _TIME,
        "model": c.nullable(c.identifier),
        "version": c.nullable(c.integer(0)),
        "role": c.nullable(c.one_of(*ROLES)),
        "output": c.nullable(c.label),
    },
    Training: {
        "tenant": _TENANT,
        "request_id": c.identifier,
        "label": c.label,
        "source": c.one_of(*SOURCES),
        "enriched": _nested(Enriched),
        "labelled_at": _TIME,
    },
    DecoyEntry: {
        "tenant": _TENANT,
        "request_id": c.identifier,
        "enriched": _enriched_text,
        "model_versions": c.version_map,
        "logged_at": _TIME,
    },
    DriftEvent: {
        "tenant": _TENANT,
        "model": c.identifier,
        "signal": c.drift_signal,
        "training_offset": c.integer(0),
        "n_before": c.integer(0),
        "n_after": c.integer(0),
        "mean_before": c.number,
        "mean_after": c.number,
        "detected_at": _TIME,
        "position": c.nullable(c.integer(0)),
        "window_start": c.nullable(c.integer(0)),
    },
    ControlCommand: {
        "tenant": _TENANT,
        "command": c.one_of(*COMMANDS),
        "args": c.json_object,
        "command_id": c.identifier,
        "issued_at": _TIME,
    },
    CheckpointMeta: {
        "tenant": _TENANT,
        "model": c.identifier,
        "version": c.integer(0),
        "training_offset": c.integer(-1),
        "metrics": c.feature_map,
        "created_at": _TIME,
        "size_bytes": c.integer(0),
        "signature": c.hex_digest,
        "parent_version": c.nullable(c.integer(0)),
        "role": c.nullable(c.one_of(*ROLES)),
        "model_version": c.nullable(c.integer(1)),
        "reason": c.nullable(c.identifier),
    },
    DeadLetter: {
        "origin_topic": c.text(MAX_NAME_CHARS),
        # -1: the record did not come from a topic (e.g. an HTTP request).
        "partition": c.integer(-1),
        "offset": c.integer(-1),
        "value": c.text(MAX_VALUE_CHARS),
        "error_class": c.text(MAX_NAME_CHARS),
        "error": c.text(MAX_ERROR_CHARS),
        "stage": c.text(MAX_NAME_CHARS),
        "failed_at": _TIME,
        "key": c.nullable(c.text(MAX_NAME_CHARS)),
    },
}


def _global_tenant_only_in_global_scope(values: dict[str, Any], prefix: str) -> None:
    # "*" addresses every tenant; on a per-entity update it would leak one
    # producer's entity state into every tenant's enrich.
    if values["tenant"] == "*" and values["scope"] != "global":
        raise InvalidRecord(
            f"{prefix}tenant: '*' is only allowed with scope global", field=f"{prefix}tenant"
        )


def _enriched_matches_request(values: dict[str, Any], prefix: str) -> None:
    # A training record teaches the tenant's models; an enriched record of
    # another tenant or request inside it would leak data across tenants or
    # pair a label with the wrong features.
    enriched = values["enriched"]
    for name in ("tenant", "request_id"):
        if getattr(enriched, name) != values[name]:
            where = f"{prefix}enriched.{name}"
            raise InvalidRecord(
                f"{where}: does not match {name} "
                f"({getattr(enriched, name)!r} != {values[name]!r})",
                field=where,
            )


RECORD_RULES: dict[type[faust.Record], tuple[Callable[[dict[str, Any], str], None], ...]] = {
    StateUpdate: (_global_tenant_only_in_global_scope,),
    Training: (_enriched_matches_request,),
}


def validate_object(
    cls: type[faust.Record], obj: Any, limits: Limits, path: str = ""
) -> faust.Record:
    """Check a decoded JSON value against `cls` and build the record.

    Parameters
    ----------
    cls : type
        One of the record classes in `schemas.records.KINDS`.
    obj : Any
        A value from ``orjson.loads``.
    limits : Limits
        Bounds to enforce.
    path : str
        Dotted path of `obj` inside an enclosing record ("" at top level).

    Returns
    -------
    faust.Record
        An instance of `cls` whose fields all passed their checks.

    Raises
    ------
    InvalidRecord
        For the first problem found: unknown fields first (they are usually
        typos that would otherwise show up as a missing field), then each
        field in declaration order, then the cross-field rules.

    Examples
    --------
    >>> validate_object(LabelRecord, {"tenant": "t", "request_id": "r"}, Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: missing field: label
    """
    prefix = f"{path}." if path else ""
    if type(obj) is not dict:
        where = path or "payload"
        raise InvalidRecord(
            f"{where}: expected a JSON object, got {c.json_type(obj)}", field=path or None
        )
    rules = FIELD_RULES[cls]
    for key in obj:
        if key not in rules:
            name = prefix + c.show(key)
            raise InvalidRecord(f"unknown field: {name}", field=name)
    defaults = cls._options.defaults
    values: dict[str, Any] = {}
    for name, check in rules.items():
        if name in obj:
            values[name] = check(obj[name], prefix + name, limits)
        elif name in defaults:
            values[name] = defaults[name]
        else:
            raise InvalidRecord(f"missing field: {prefix}{name}", field=prefix + name)
    for rule in RECORD_RULES.get(cls, ()):
        rule(values, prefix)
    return cls(**values)


def _check_tables() -> None:
    # A field added to a record without a rule would be rejected as unknown
    # on decode; catch that at import, not in production.
    for cls in KINDS.values():
        declared, ruled = list(cls._options.fields), list(FIELD_RULES[cls])
        if declared != ruled:
            raise RuntimeError(f"{cls.__name__}: fields {declared} but rules for {ruled}")


_check_tables()
