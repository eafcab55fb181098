"""What msgspec cannot check by itself, and the wording of every rejection.

msgspec enforces each field's type and static bounds while it decodes. What is
left is read off the same annotations in `schemas.records`: the markers
(`IDENT`, `MAP`, ...) for bounds that come from the runtime `Limits`, plus two
rules that span fields. `post_check` runs them on a decoded record.

When msgspec refuses a payload, `explain` turns its message into the one this
package has always given (``"features.amount: expected a number, got
boolean"``): the path down to the offending value, with the value itself.
"""

from __future__ import annotations

import functools
import operator
import re
import typing
from typing import Any, Callable, Literal, Union

import msgspec
from msgspec import Meta, Struct

from .errors import InvalidRecord
from .limits import Limits
from .records import (
    ENRICHED_TEXT,
    IDENT,
    INT64_MIN,
    JSON,
    LABEL,
    MAP,
    SIGNAL,
    StateUpdate,
    Training,
)

__all__ = ["MAX_JSON_DEPTH", "show", "json_type", "post_check", "explain", "validate_object"]

# orjson.dumps refuses more than 254 levels; a free-form object accepted here
# must survive being re-encoded inside an enclosing record.
MAX_JSON_DEPTH = 32
# JSON readers downstream (orjson) take at most unsigned 64-bit integers.
_UINT64_MAX = 2**64 - 1


def show(text: str, limit: int = 64) -> str:
    """Render untrusted text for a message: plain if short and printable.

    >>> show("amount"), show("a\\x00b"), show("x" * 70)[-5:]
    ('amount', "'a\\\\x00b'", "xxx'…")
    """
    if text and len(text) <= limit and text.isprintable():
        return text
    shown = repr(text[:limit])
    return shown + "…" if len(text) > limit else shown


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages.

    >>> [json_type(v) for v in (None, True, 1, 1.5, "s", [], {})]
    ['null', 'boolean', 'integer', 'number', 'string', 'array', 'object']
    """
    names = {type(None): "null", bool: "boolean", int: "integer", float: "number",
             str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _fail(path: str, problem: str) -> InvalidRecord:
    return InvalidRecord(f"{path}: {problem}", field=path)


def _identifier(value: str, path: str, limits: Limits) -> None:
    if not value:
        raise _fail(path, "empty string")
    if len(value) > limits.max_string_len:
        raise _fail(path, f"longer than {limits.max_string_len} characters ({len(value)})")
    # isprintable() is False for control, format, surrogate and separator
    # characters other than the ASCII space: all of them spoof or break logs.
    if not value.isprintable():
        at = next(i for i, c in enumerate(value) if not c.isprintable())
        raise _fail(path, f"control or unprintable character at index {at}")


def _check_ident(value: str, path: str, limits: Limits) -> None:
    if len(value) > limits.max_string_len or not value.isprintable():
        _identifier(value, path, limits)


def _check_map(value: dict, path: str, limits: Limits) -> None:
    if len(value) > limits.max_features:
        raise _fail(path, f"too many entries ({len(value)} > {limits.max_features})")
    # Keys become column names and metric labels, so they are identifiers too.
    # Joined, they are printable exactly when each one is, and no key is
    # longer than all of them together: two C calls in the common case.
    joined = "".join(value)
    longest = limits.max_string_len
    if (
        "" in value
        or not joined.isprintable()
        or (len(joined) > longest and max(map(len, value)) > longest)
    ):
        for key in value:
            _identifier(key, f"{path}.{show(key)} (name)", limits)


def _check_label(value: Any, path: str, limits: Limits) -> None:
    if type(value) is str:
        _check_ident(value, path, limits)


def _check_json(value: dict, path: str, limits: Limits) -> None:
    # Iterative so a hostile document cannot exhaust the Python stack.
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > MAX_JSON_DEPTH:
            raise _fail(path, f"nested deeper than {MAX_JSON_DEPTH} levels")
        for child in item.values() if type(item) is dict else item:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, level + 1))
            elif kind is int and not INT64_MIN <= child <= _UINT64_MAX:
                raise _fail(path, f"integer out of 64-bit range ({child})")


def _check_enriched_text(value: str, path: str, limits: Limits) -> None:
    limit = limits.payload_limit("enriched")
    if len(value) > limit:
        raise _fail(path, f"longer than {limit} characters ({len(value)})")


def _check_signal(value: str, path: str, limits: Limits) -> None:
    if value.startswith("feature:"):
        _identifier(value[len("feature:"):], f"{path} (feature name)", limits)


_CHECKS: dict[str, Callable[[Any, str, Limits], None]] = {
    IDENT: _check_ident,
    MAP: _check_map,
    LABEL: _check_label,
    JSON: _check_json,
    ENRICHED_TEXT: _check_enriched_text,
    SIGNAL: _check_signal,
}


def _global_tenant_only_in_global_scope(record: StateUpdate, prefix: str) -> None:
    # "*" addresses every tenant; on a per-entity update it would leak one
    # producer's entity state into every tenant's enrich.
    if record.tenant == "*" and record.scope != "global":
        raise _fail(f"{prefix}tenant", "'*' is only allowed with scope global")


def _enriched_matches_request(record: Training, prefix: str) -> None:
    # A training record teaches the tenant's models; an enriched record of
    # another tenant or request inside it would leak data across tenants or
    # pair a label with the wrong features.
    for name in ("tenant", "request_id"):
        inner, outer = getattr(record.enriched, name), getattr(record, name)
        if inner != outer:
            raise _fail(
                f"{prefix}enriched.{name}", f"does not match {name} ({inner!r} != {outer!r})"
            )


_RULES: dict[type, Callable[[Any, str], None]] = {
    StateUpdate: _global_tenant_only_in_global_scope,
    Training: _enriched_matches_request,
}


def _unwrap(tp: Any) -> tuple[Any, list]:
    """`tp` without Optional and Annotated, and the Annotated metadata."""
    extras: list = []
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            extras.extend(tp.__metadata__)
            tp = tp.__origin__
        elif origin is Union and type(None) in typing.get_args(tp):
            rest = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]
        else:
            return tp, extras


@functools.cache
def _hints(cls: type[Struct]) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Struct)


def _nested(value: Struct, path: str, limits: Limits) -> None:
    post_check(value, limits, f"{path}.")


@functools.cache
def _plan(cls: type[Struct]) -> tuple[tuple[str, ...], Any, tuple[tuple[str, Any], ...]]:
    # Read off the annotations once: the required identifier fields (checked
    # together, the common case), then (field, check) for everything else.
    idents: list[str] = []
    steps: list[tuple[str, Any]] = []
    for name, hint in _hints(cls).items():
        tp, extras = _unwrap(hint)
        if _is_struct(tp):
            steps.append((name, _nested))
        elif extras.count(IDENT) and typing.get_origin(hint) is not Union:
            idents.append(name)
            extras = [m for m in extras if m is not IDENT]
        steps.extend((name, _CHECKS[m]) for m in extras if m in _CHECKS)
    getter = operator.attrgetter(*idents) if len(idents) > 1 else None
    return tuple(idents), getter, tuple(steps)


def post_check(record: Struct, limits: Limits, prefix: str = "") -> None:
    """Check what msgspec could not: runtime limits and cross-field rules.

    Parameters
    ----------
    record : msgspec.Struct
        A record just decoded by msgspec (types and static bounds hold).
    limits : Limits
        Bounds to enforce.
    prefix : str
        Dotted path of `record` inside an enclosing record, with a trailing dot.

    Raises
    ------
    InvalidRecord
        For the first problem found.

    Examples
    --------
    >>> from schemas.records import LabelRecord
    >>> post_check(LabelRecord(tenant="acme", request_id="r1", label=True, ts=1.0), Limits(max_string_len=2))
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: tenant: longer than 2 characters (4)
    """
    cls = type(record)
    idents, getter, steps = _plan(cls)
    longest = limits.max_string_len
    values = getter(record) if getter else [getattr(record, name) for name in idents]
    for value in values:
        if len(value) > longest or not value.isprintable():
            for name in idents:
                _check_ident(getattr(record, name), prefix + name, limits)
    for name, check in steps:
        value = getattr(record, name)
        if value is not None:
            check(value, prefix + name, limits)
    rule = _RULES.get(cls)
    if rule is not None:
        rule(record, prefix)


def _fits(value: Any, tp: Any) -> bool:
    try:
        msgspec.convert(value, tp)
    except msgspec.ValidationError:
        return False
    return True


def _problem(tp: Any, value: Any, message: str) -> str | None:
    """What is wrong with `value` for the type `tp` (msgspec said `message`), in our words."""
    tp, extras = _unwrap(tp)
    got = json_type(value)
    metas = [m for m in extras if isinstance(m, Meta)]
    origin = typing.get_origin(tp)
    if origin is Literal:
        if type(value) is not str:
            return f"expected a string, got {got}"
        return f"must be one of {', '.join(typing.get_args(tp))} (got {value[:64]!r})"
    if _is_struct(tp):
        return f"expected a JSON object, got {got}"
    if tp is dict or origin is dict:
        return f"expected an object, got {got}"
    if origin is Union:  # a label
        # orjson reads integers beyond 64 bits as floats; msgspec keeps them
        # integers, and refuses them.
        if type(value) is int or (type(value) is float and "`int`" in message):
            return f"integer out of 64-bit range ({value})"
        if type(value) is str:
            return _problem(next(a for a in typing.get_args(tp) if _unwrap(a)[0] is str), value, message)
        if type(value) in (bool, float):
            return None
        return f"expected a boolean, integer, number or string, got {got}"
    if tp is str:
        if type(value) is not str:
            return f"expected a string, got {got}"
        for meta in metas:
            if meta.min_length is not None and len(value) < meta.min_length:
                return "empty string"
            if meta.max_length is not None and len(value) > meta.max_length:
                return f"longer than {meta.max_length} characters ({len(value)})"
            if meta.pattern is not None and not re.search(meta.pattern, value):
                return meta.description.format(value[:64])
        return None
    if tp is float:
        if type(value) not in (int, float):
            return f"expected a number, got {got}"
        number = float(value)
        for meta in metas:
            if meta.ge is not None and meta.le is not None and not meta.ge <= number <= meta.le:
                return f"must be within [{meta.ge}, {meta.le}] (got {number})"
            if meta.ge is not None and number < meta.ge:
                return f"must be >= {meta.ge} (got {number})"
        return None
    if tp is int:
        if type(value) is not int:
            return f"expected an integer, got {got}"
        for meta in metas:
            if meta.ge is not None and value < meta.ge:
                return f"out of range (must be >= {meta.ge}, got {value})"
            if meta.le is not None and value > meta.le:
                return f"out of range (must be <= {meta.le}, got {value})"
    return None


_STEP = re.compile(r"\.([^.\[]+)|\[([^\]]*)\]")


def _explain(cls: type[Struct], obj: Any, message: str) -> InvalidRecord:
    text, _, where = message.partition(" - at `")
    tp, value, names = cls, obj, []
    for name, index in _STEP.findall(where.rstrip("`")[1:]):
        if name:
            tp, value = _hints(_unwrap(tp)[0])[name], value[name]
            names.append(name)
        else:  # a dict value: msgspec does not say which key, so find it
            tp = typing.get_args(_unwrap(tp)[0])[1]
            key = next(k for k, v in value.items() if not _fits(v, tp))
            names.append(show(key))
            value = value[key]
    path = ".".join(names)
    prefix = f"{path}." if path else ""
    if text.startswith("Object missing required field"):
        field = prefix + text.split("`")[1]
        return InvalidRecord(f"missing field: {field}", field=field)
    if text.startswith("Object contains unknown field"):
        known = _hints(_unwrap(tp)[0])
        field = prefix + show(next(k for k in value if k not in known))
        return InvalidRecord(f"unknown field: {field}", field=field)
    problem = _problem(tp, value, text) or text[:1].lower() + text[1:]
    return InvalidRecord(f"{path or 'payload'}: {problem}", field=path or None)


def explain(cls: type[Struct], obj: Any, message: str) -> InvalidRecord:
    """The `InvalidRecord` for msgspec's refusal `message` of the JSON value `obj`.

    Examples
    --------
    >>> from schemas.records import Event
    >>> explain(Event, {"features": {"a": True}}, "Expected `float`, got `bool` - at `$.features[...]`")
    InvalidRecord('features.a: expected a number, got boolean')
    """
    try:
        return _explain(cls, obj, message)
    except Exception:  # whatever the message, the caller gets an InvalidRecord
        return InvalidRecord(f"payload: {message}")


def validate_object(cls: type[Struct], obj: Any, limits: Limits) -> Struct:
    """Check a decoded JSON value against `cls` and build the record.

    Examples
    --------
    >>> from schemas.records import LabelRecord
    >>> validate_object(LabelRecord, {"tenant": "t", "request_id": "r"}, Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: missing field: label
    """
    try:
        record = msgspec.convert(obj, cls)
    except msgspec.ValidationError as exc:
        raise explain(cls, obj, str(exc)) from None
    post_check(record, limits)
    return record
