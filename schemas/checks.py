"""Checks for single JSON values.

A check takes ``(value, path, limits)``, where ``value`` came out of
``orjson.loads`` and ``path`` is the dotted field name used in messages, and
returns the value to store in the record, or raises `InvalidRecord`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from .errors import InvalidRecord
from .limits import Limits

__all__ = [
    "Check",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_JSON_DEPTH",
    "show",
    "json_type",
    "identifier",
    "text",
    "number",
    "timestamp",
    "non_negative",
    "probability",
    "integer",
    "nullable",
    "one_of",
    "label",
    "feature_map",
    "version_map",
    "json_object",
    "hex_digest",
    "drift_signal",
]

Check = Callable[[Any, str, Limits], Any]

# Kafka offsets and most consumers are signed 64-bit; orjson also cannot
# write anything wider, so a wider int would break the next encode.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# orjson.dumps refuses more than 254 levels; a free-form object accepted here
# must survive being re-encoded inside an enclosing record.
MAX_JSON_DEPTH = 32


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
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _fail(path: str, problem: str) -> InvalidRecord:
    return InvalidRecord(f"{path}: {problem}", field=path)


def identifier(value: Any, path: str, limits: Limits) -> str:
    """A non-empty, printable string of at most ``max_string_len`` characters.

    >>> identifier("acme", "tenant", Limits())
    'acme'
    >>> identifier("a\\tb", "tenant", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: tenant: control or unprintable character at index 1
    """
    if type(value) is not str:
        raise _fail(path, f"expected a string, got {json_type(value)}")
    if not value:
        raise _fail(path, "empty string")
    if len(value) > limits.max_string_len:
        raise _fail(path, f"longer than {limits.max_string_len} characters ({len(value)})")
    # isprintable() is False for control, format, surrogate and separator
    # characters other than the ASCII space: all of them spoof or break logs.
    if not value.isprintable():
        at = next(i for i, c in enumerate(value) if not c.isprintable())
        raise _fail(path, f"control or unprintable character at index {at}")
    return value


def text(max_len: int) -> Check:
    """Any string of at most `max_len` characters (free text, may be empty).

    >>> text(3)("abcd", "error", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: error: longer than 3 characters (4)
    """

    def check(value: Any, path: str, limits: Limits) -> str:
        if type(value) is not str:
            raise _fail(path, f"expected a string, got {json_type(value)}")
        if len(value) > max_len:
            raise _fail(path, f"longer than {max_len} characters ({len(value)})")
        return value

    return check


def number(value: Any, path: str, limits: Limits) -> float:
    """A finite number, returned as float; booleans are not numbers.

    >>> number(3, "ts", Limits())
    3.0
    >>> number(True, "ts", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: ts: expected a number, got boolean
    """
    # type() rather than isinstance(): bool is a subclass of int.
    kind = type(value)
    if kind is float:
        result = value
    elif kind is int:
        try:
            result = float(value)
        except OverflowError:
            raise _fail(path, "not a finite number (integer too large)") from None
    else:
        raise _fail(path, f"expected a number, got {json_type(value)}")
    if not math.isfinite(result):
        raise _fail(path, f"not a finite number ({result})")
    return result


def non_negative(value: Any, path: str, limits: Limits) -> float:
    """A finite number >= 0.

    >>> non_negative(-0.5, "latency_ms", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: latency_ms: must be >= 0 (got -0.5)
    """
    result = number(value, path, limits)
    if result < 0:
        raise _fail(path, f"must be >= 0 (got {result})")
    return result


#: Epoch seconds: finite and not before 1970.
timestamp = non_negative


def probability(value: Any, path: str, limits: Limits) -> float:
    """A finite number in [0, 1].

    >>> probability(1.5, "proba", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: proba: must be within [0, 1] (got 1.5)
    """
    result = number(value, path, limits)
    if not 0.0 <= result <= 1.0:
        raise _fail(path, f"must be within [0, 1] (got {result})")
    return result


def integer(minimum: int) -> Check:
    """An integer (not a bool, not a float) in [`minimum`, 2**63 - 1].

    >>> integer(-1)(-2, "state_version", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: state_version: out of range (must be >= -1, got -2)
    """

    def check(value: Any, path: str, limits: Limits) -> int:
        if type(value) is not int:
            raise _fail(path, f"expected an integer, got {json_type(value)}")
        if value < minimum:
            raise _fail(path, f"out of range (must be >= {minimum}, got {value})")
        if value > INT64_MAX:
            raise _fail(path, f"out of range (must be <= {INT64_MAX}, got {value})")
        return value

    return check


def nullable(inner: Check) -> Check:
    """None, or whatever `inner` accepts.

    >>> nullable(number)(None, "proba", Limits()) is None
    True
    """

    def check(value: Any, path: str, limits: Limits) -> Any:
        return None if value is None else inner(value, path, limits)

    return check


def one_of(*choices: str) -> Check:
    """One of the given strings.

    >>> one_of("entity", "global")("local", "scope", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: scope: must be one of entity, global (got 'local')
    """
    allowed = frozenset(choices)
    listed = ", ".join(choices)

    def check(value: Any, path: str, limits: Limits) -> str:
        if type(value) is not str:
            raise _fail(path, f"expected a string, got {json_type(value)}")
        if value not in allowed:
            raise _fail(path, f"must be one of {listed} (got {value[:64]!r})")
        return value

    return check


def label(value: Any, path: str, limits: Limits) -> bool | int | float | str:
    """A bool, an int, a finite float, or an identifier-like string.

    Types are kept as they are: ``True`` stays a bool, ``1`` stays an int.

    >>> [label(v, "label", Limits()) for v in (True, 1, 0.5, "spam")]
    [True, 1, 0.5, 'spam']
    """
    kind = type(value)
    if kind is bool:
        return value
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise _fail(path, f"integer out of 64-bit range ({value})")
        return value
    if kind is float:
        return number(value, path, limits)
    if kind is str:
        return identifier(value, path, limits)
    raise _fail(path, f"expected a boolean, integer, number or string, got {json_type(value)}")


def _mapping(value: Any, path: str, limits: Limits) -> dict:
    if type(value) is not dict:
        raise _fail(path, f"expected an object, got {json_type(value)}")
    if len(value) > limits.max_features:
        raise _fail(path, f"too many entries ({len(value)} > {limits.max_features})")
    return value


def _map_of(inner: Check) -> Check:
    def check(value: Any, path: str, limits: Limits) -> dict:
        result = {}
        for key, item in _mapping(value, path, limits).items():
            where = f"{path}.{show(key)}"
            # Keys are identifiers too: they become column names and metric labels.
            identifier(key, f"{where} (name)", limits)
            result[key] = inner(item, where, limits)
        return result

    return check


#: ``dict[str, float]``: at most ``max_features`` identifier keys, finite values.
feature_map: Check = _map_of(number)
feature_map.__doc__ = """A ``dict[str, float]`` of at most ``max_features`` entries.

>>> feature_map({"amount": 3}, "features", Limits())
{'amount': 3.0}
>>> feature_map({"amount": False}, "features", Limits())
Traceback (most recent call last):
...
schemas.errors.InvalidRecord: features.amount: expected a number, got boolean
"""

#: ``dict[str, int]`` of model name -> version (>= 0).
version_map: Check = _map_of(integer(0))


def _depth(value: Any) -> int:
    # Iterative so a hostile document cannot exhaust the Python stack.
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in item)
    return deepest


def json_object(value: Any, path: str, limits: Limits) -> dict:
    """A JSON object of any content, at most `MAX_JSON_DEPTH` levels deep.

    Its size is bounded by the payload limit of the enclosing record.

    >>> json_object({"pool": "fast"}, "args", Limits())
    {'pool': 'fast'}
    >>> json_object([], "args", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: args: expected an object, got array
    """
    if type(value) is not dict:
        raise _fail(path, f"expected an object, got {json_type(value)}")
    if _depth(value) > MAX_JSON_DEPTH:
        raise _fail(path, f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value


_HEX = frozenset("0123456789abcdef")


def hex_digest(value: Any, path: str, limits: Limits) -> str:
    """A non-empty, even-length, lowercase hex string.

    Lowercase only, so that two spellings of one signature cannot both exist.

    >>> hex_digest("ABCD", "signature", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: signature: not lowercase hex
    """
    identifier(value, path, limits)
    if len(value) % 2 or not _HEX.issuperset(value):
        raise _fail(path, "not lowercase hex")
    return value


def drift_signal(value: Any, path: str, limits: Limits) -> str:
    """``"error"``, ``"divergence"`` or ``"feature:<name>"``.

    >>> drift_signal("feature:amount", "signal", Limits())
    'feature:amount'
    >>> drift_signal("feature:", "signal", Limits())
    Traceback (most recent call last):
    ...
    schemas.errors.InvalidRecord: signal (feature name): empty string
    """
    if value in ("error", "divergence"):
        return value
    if type(value) is str and value.startswith("feature:"):
        identifier(value[len("feature:") :], f"{path} (feature name)", limits)
        return value
    if type(value) is not str:
        raise _fail(path, f"expected a string, got {json_type(value)}")
    raise _fail(path, f"must be error, divergence or feature:<name> (got {value[:64]!r})")
