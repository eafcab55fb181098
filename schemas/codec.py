"""Bytes <-> records: the only codec for every topic.

Topics carry raw bytes; a record is the JSON object of its fields, with
nested records as nested objects. `decode` is the gate between untrusted bytes
and the rest of the system: msgspec parses and type-checks in one pass, then
`schemas.validation.post_check` applies the runtime `Limits`. It returns a
valid record or raises `InvalidRecord`, and nothing else, whatever the bytes.

Examples
--------
>>> from schemas.records import LabelRecord
>>> data = encode(LabelRecord(tenant="acme", request_id="r1", label=True, ts=1.5))
>>> data
b'{"tenant":"acme","request_id":"r1","label":true,"ts":1.5}'
>>> decode("labels", data, Limits())
LabelRecord(tenant='acme', request_id='r1', label=True, ts=1.5)
>>> decode("labels", b'{"tenant":"acme"}', Limits())
Traceback (most recent call last):
...
schemas.errors.InvalidRecord: missing field: request_id
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

import msgspec
import orjson

from .errors import InvalidRecord
from .limits import Limits
from .records import KINDS
from .validation import explain, post_check

__all__ = ["encode", "decode", "to_plain", "kind_name"]

R = TypeVar("R", bound=msgspec.Struct)

_NAMES: dict[type[msgspec.Struct], str] = {cls: name for name, cls in KINDS.items()}
_DECODERS = {cls: msgspec.json.Decoder(cls) for cls in KINDS.values()}


def _enc_hook(value: Any) -> Any:
    # River models may hand back numpy scalars as outputs or probabilities.
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)


def kind_name(kind: type[msgspec.Struct] | str) -> str:
    """The topic base name for a record class or name.

    >>> from schemas.records import StateUpdate
    >>> kind_name(StateUpdate), kind_name("events")
    ('state-updates', 'events')

    Raises
    ------
    LookupError
        For anything that is not a kind: a bug in the caller, not bad data,
        so deliberately not an `InvalidRecord`.
    """
    if isinstance(kind, str):
        if kind in KINDS:
            return kind
    elif kind in _NAMES:
        return _NAMES[kind]
    raise LookupError(f"unknown record kind {kind!r}; expected one of {', '.join(KINDS)}")


def to_plain(record: msgspec.Struct) -> dict[str, Any]:
    """The record's fields as a plain dict, nested records as dicts.

    >>> from schemas.records import LabelRecord
    >>> to_plain(LabelRecord(tenant="acme", request_id="r1", label=1, ts=2.0))
    {'tenant': 'acme', 'request_id': 'r1', 'label': 1, 'ts': 2.0}
    """
    return {
        name: to_plain(value) if isinstance(value, msgspec.Struct) else value
        for name, value in msgspec.structs.asdict(record).items()
    }


def encode(record: msgspec.Struct, limits: Limits | None = None) -> bytes:
    """Serialize a record to JSON bytes.

    Parameters
    ----------
    record : msgspec.Struct
        Any record of `schemas.records`.
    limits : Limits, optional
        If given, the bytes are decoded again and must give back an equal
        record, so a producer can refuse what every consumer would reject:
        oversize payloads, out-of-range values, and NaN or infinity (which
        JSON cannot carry: they are written as null).

    Returns
    -------
    bytes
        Compact JSON, fields in declaration order.

    Raises
    ------
    InvalidRecord
        If a value cannot be written as JSON, or (with `limits`) if the
        result would not decode to the same record.
    """
    try:
        data = _ENCODER.encode(record)
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
        raise InvalidRecord(f"cannot encode {type(record).__name__}: {exc}") from None
    if limits is not None:
        back = decode(type(record), data, limits)
        for name in record.__struct_fields__:
            if getattr(back, name) != getattr(record, name):
                raise InvalidRecord(
                    f"{name}: changed by encoding (NaN or infinity?)", field=name
                )
    return data


def _rejection(cls: type[msgspec.Struct], data: bytes, exc: Exception) -> InvalidRecord:
    # Only on the error path: orjson names JSON-level faults (and gives the
    # value that `explain` quotes) exactly as this package always has.
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as bad_json:
        # orjson reports bad UTF-8 as a JSON error; say which it is, since a
        # wrong producer encoding is a different fix from broken JSON.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return InvalidRecord(f"payload: not valid UTF-8 (byte {bad.start})")
        return InvalidRecord(f"payload: invalid JSON ({bad_json})")
    if isinstance(exc, msgspec.ValidationError):
        return explain(cls, obj, str(exc))
    if isinstance(exc, RecursionError):
        return InvalidRecord("payload: invalid JSON (depth limit exceeded)")
    return InvalidRecord(f"payload: invalid JSON ({exc})")


@overload
def decode(kind: type[R], data: bytes, limits: Limits) -> R: ...
@overload
def decode(kind: str, data: bytes, limits: Limits) -> msgspec.Struct: ...
def decode(kind: type[msgspec.Struct] | str, data: bytes, limits: Limits) -> msgspec.Struct:
    """Parse and validate one payload.

    Parameters
    ----------
    kind : type or str
        A record class, or its topic base name (a key of `KINDS`).
    data : bytes
        The message value as received (bytearray and memoryview also work).
    limits : Limits
        Bounds to enforce; derived kinds get a larger payload limit
        (see `Limits.payload_limit`).

    Returns
    -------
    msgspec.Struct
        An instance of the kind; numbers where floats are declared are
        floats, labels keep their JSON type (bool, int, float or str).

    Raises
    ------
    InvalidRecord
        For any payload that is not a valid record of `kind`, and for nothing
        else. (An unknown `kind` is a `LookupError`: that is a bug.)
    """
    name = kind_name(kind)
    cls = KINDS[name]
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if type(data) is not bytes:
        # None is what a Kafka tombstone looks like.
        raise InvalidRecord(f"payload: expected bytes, got {type(data).__name__}")
    limit = limits.payload_limit(name)
    if len(data) > limit:
        raise InvalidRecord(f"payload: {len(data)} bytes exceeds the limit of {limit}")
    try:
        record = _DECODERS[cls].decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
        raise _rejection(cls, data, exc) from None
    post_check(record, limits)
    return record
