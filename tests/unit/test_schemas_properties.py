"""Property tests: `decode` raises `InvalidRecord` and nothing else, for any bytes.

And whatever it accepts survives a round trip, so an agent that re-encodes a
decoded record can never fail or change it.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import KINDS, InvalidRecord, Limits, decode, encode, to_plain

from .test_schemas_codec import SAMPLES

LIMITS = Limits()
# Small limits too, so the size checks are hit by small generated inputs.
TIGHT = Limits(max_payload_bytes=512, max_features=3, max_string_len=8)
BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KIND_NAMES = list(KINDS)
# The valid samples, as JSON objects, to mutate one field at a time.
BASES = [(KIND_NAMES[list(KINDS.values()).index(type(r))], to_plain(r)) for r in SAMPLES.values()]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: beyond 64 bits orjson parses them as floats
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 1e308, 5e-324, -0.0])
    | st.text(max_size=20)  # includes control characters and lone surrogates
    | st.sampled_from(["", "*", "entity", "global", "champion", "inline", "feature:", "feature:x", "ab" * 4])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
# Literal tokens that no JSON encoder writes but a hostile producer may.
hostile_tokens = st.sampled_from(
    [b"1e400", b"-1e400", b"NaN", b"Infinity", b"1" * 400, b'"\\ud800"', b'"\xff"', b"[" * 2000]
)


def to_bytes(value) -> bytes:
    # The stdlib encoder writes what orjson would not: ints beyond 64 bits and
    # lone surrogates (as \\ud800 escapes).
    return json.dumps(value).encode()


def check_decode(kind: str, data: bytes, limits: Limits) -> None:
    try:
        record = decode(kind, data, limits)
    except InvalidRecord as err:
        assert err.reason and str(err) == err.reason
        assert err.field is None or isinstance(err.field, str)
        return
    # Accepted: re-encoding must work and give back the same record and bytes.
    again = encode(record)
    assert decode(kind, again, limits) == record
    assert encode(decode(kind, again, limits)) == again


@pytest.mark.parametrize("kind", KIND_NAMES)
@BOUNDED
@given(data=st.binary(max_size=600))
def test_random_bytes(kind, data):
    check_decode(kind, data, LIMITS)
    check_decode(kind, data, TIGHT)


@pytest.mark.parametrize("kind", KIND_NAMES)
@BOUNDED
@given(value=json_values)
def test_random_json(kind, value):
    check_decode(kind, to_bytes(value), LIMITS)


@BOUNDED
@given(
    base=st.sampled_from(BASES),
    data=st.data(),
    op=st.sampled_from(["replace", "drop", "add", "replace-nested", "token"]),
)
def test_valid_records_with_one_field_changed(base, data, op):
    kind, obj = base
    obj = dict(obj)
    field = data.draw(st.sampled_from(sorted(obj)))
    if op == "replace":
        obj[field] = data.draw(json_values)
    elif op == "drop":
        del obj[field]
    elif op == "add":
        obj[data.draw(st.text(max_size=10))] = data.draw(json_values)
    elif op == "replace-nested" and isinstance(obj[field], dict):
        inner = dict(obj[field])
        inner[data.draw(st.sampled_from(sorted(inner) or ["x"]))] = data.draw(json_values)
        obj[field] = inner
    payload = to_bytes(obj)
    if op == "token":
        obj[field] = "@@token@@"
        payload = to_bytes(obj).replace(b'"@@token@@"', data.draw(hostile_tokens))
    check_decode(kind, payload, LIMITS)
    check_decode(kind, payload, TIGHT)


@BOUNDED
@given(data=st.data())
def test_training_with_enriched_field_changed(data):
    obj = to_plain(SAMPLES["training"])
    enriched = dict(obj["enriched"])
    enriched[data.draw(st.sampled_from(sorted(enriched)))] = data.draw(json_values)
    check_decode("training", to_bytes({**obj, "enriched": enriched}), LIMITS)


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_samples_survive_the_tight_limits_or_fail_cleanly(kind):
    for record in SAMPLES.values():
        check_decode(kind, encode(record), TIGHT)
