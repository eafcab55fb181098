"""Bytes <-> records: the only codec for every topic.

Topics carry raw bytes; a record is the JSON object of its fields (orjson),
with nested records as nested objects and no faust metadata.
`decode` is the gate between untrusted bytes and the rest of the system: it
returns a record whose every field passed `schemas.validation`, or raises
`InvalidRecord`, and nothing else, whatever the bytes.

Examples
--------
>>> from schemas.records import LabelRecord
>>> data = encode(LabelRecord(tenant="acme", request_id="r1", label=True, ts=1.5))
>>> data
b'{"tenant":"acme","request_id":"r1","label":true,"ts":1.5}'
>>> decode("labels", data, Limits())
<LabelRecord: tenant='acme', request_id='r1', label=True, ts=1.5>
>>> decode("labels", b'{"tenant":"acme"}', Limits())
Traceback (most recent call last):
...
schemas.errors.InvalidRecord: missing field: request_id
"""

from __future__ import annotations

from typing import Any, TypeVar, overload

import faust
import orjson

from .errors import InvalidRecord
from .limits import Limits
from .records import KINDS
from .validation import validate_object

__all__ = ["encode", "decode", "to_plain", "kind_name"]

R = TypeVar("R", bound=faust.Record)

_NAMES: dict[type[faust.Record], str] = {cls: name for name, cls in KINDS.items()}
# River models may hand back numpy scalars as outputs or probabilities.
_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def kind_name(kind: type[faust.Record] | str) -> str:
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


def to_plain(record: faust.Record) -> dict[str, Any]:
    """The record's fields as a plain dict, nested records as dicts.

    Unlike ``Record.asdict()``, nested records are converted too.
    """
    plain = {}
    for name in record._options.fields:
        value = getattr(record, name)
        plain[name] = to_plain(value) if isinstance(value, faust.Record) else value
    return plain


def encode(record: faust.Record, limits: Limits | None = None) -> bytes:
    """Serialize a record to JSON bytes.

    Parameters
    ----------
    record : faust.Record
        Any record of `schemas.records`.
    limits : Limits, optional
        If given, the bytes are decoded again and must give back an equal
        record, so a producer can refuse what every consumer would reject:
        oversize payloads, out-of-range values, and NaN or infinity (which
        JSON cannot carry: orjson writes them as null).

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
        data = orjson.dumps(to_plain(record), option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise InvalidRecord(f"cannot encode {type(record).__name__}: {exc}") from None
    if limits is not None:
        back = decode(type(record), data, limits)
        for name in record._options.fields:
            if getattr(back, name) != getattr(record, name):
                raise InvalidRecord(
                    f"{name}: changed by encoding (NaN or infinity?)", field=name
                )
    return data


@overload
def decode(kind: type[R], data: bytes, limits: Limits) -> R: ...
@overload
def decode(kind: str, data: bytes, limits: Limits) -> faust.Record: ...
def decode(kind: type[faust.Record] | str, data: bytes, limits: Limits) -> faust.Record:
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
    faust.Record
        An instance of the kind; numbers where floats are declared are
        floats, labels keep their JSON type (bool, int, float or str).

    Raises
    ------
    InvalidRecord
        For any payload that is not a valid record of `kind`, and for nothing
        else. (An unknown `kind` is a `LookupError`: that is a bug.)
    """
    name = kind_name(kind)
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if type(data) is not bytes:
        # None is what a Kafka tombstone looks like.
        raise InvalidRecord(f"payload: expected bytes, got {type(data).__name__}")
    limit = limits.payload_limit(name)
    if len(data) > limit:
        raise InvalidRecord(f"payload: {len(data)} bytes exceeds the limit of {limit}")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # orjson reports bad UTF-8 as a JSON error; say which it is, since a
        # wrong producer encoding is a different fix from broken JSON.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise InvalidRecord(f"payload: not valid UTF-8 (byte {bad.start})") from None
        raise InvalidRecord(f"payload: invalid JSON ({exc})") from None
    return validate_object(KINDS[name], obj, limits)
