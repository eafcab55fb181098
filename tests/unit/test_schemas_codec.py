"""Encoding and decoding every record kind: valid tables, then invalid tables."""

from __future__ import annotations

import orjson
import pytest

from schemas import (
    KINDS,
    CheckpointMeta,
    ControlCommand,
    DecoyEntry,
    DriftEvent,
    Enriched,
    Event,
    InvalidRecord,
    LabelRecord,
    Limits,
    Result,
    Score,
    StateUpdate,
    Training,
    dead_letter_for,
    decode,
    encode,
    kind_name,
    to_plain,
)

LIMITS = Limits()
T0 = 1_700_000_000.5

EVENT = Event(
    tenant="acme",
    request_id="r-1",
    entity="user-7",
    ts=T0,
    features={"amount": 12.5, "n_items": 3.0},
    label=True,
)
ENRICHED = Enriched(
    tenant="acme",
    request_id="r-1",
    entity="user-7",
    ts=T0,
    features={"amount": 12.5},
    state={"balance": 100.0},
    state_version=4,
    aggregates={"amount_mean_1h": 10.25},
    context={"eur_usd": 1.08},
    context_version=-1,
    deployment={"champion": "arf", "pools": ["fast", "heavy"], "deadline_ms": 50},
    enriched_at=T0 + 0.01,
)

# One valid record per kind (and a few variants): the rows of the round-trip table.
SAMPLES: dict[str, object] = {
    "event": EVENT,
    "event-no-label": Event(
        tenant="acme", request_id="r-2", entity="user-7", ts=T0, features={}
    ),
    "state-update": StateUpdate(
        tenant="acme", entity="user-7", version=4, ts=T0, values={"balance": 100.0}
    ),
    "state-update-global": StateUpdate(
        tenant="*", entity="fx", version=0, ts=T0, values={"eur_usd": 1.08}, scope="global"
    ),
    "label": LabelRecord(tenant="acme", request_id="r-1", label="fraud", ts=T0),
    "label-float": LabelRecord(tenant="acme", request_id="r-1", label=-3.25, ts=T0),
    "enriched": ENRICHED,
    "score": Score(
        tenant="acme",
        request_id="r-1",
        model="arf",
        version=3,
        role="champion",
        pool="heavy",
        latency_ms=4.5,
        scored_at=T0,
        output=1,
        proba=0.83,
    ),
    "score-failed": Score(
        tenant="acme",
        request_id="r-1",
        model="lr",
        version=0,
        role="shadow",
        pool="fast",
        latency_ms=0.0,
        scored_at=T0,
        error="ZeroDivisionError: float division by zero\n  at learn_one",
    ),
    "result": Result(
        tenant="acme",
        request_id="r-1",
        entity="user-7",
        reason="fallback-deadline",
        latency_ms=50.0,
        decided_at=T0,
        model="lr",
        version=2,
        role="challenger",
        output=False,
    ),
    "result-default": Result(
        tenant="acme",
        request_id="r-1",
        entity="user-7",
        reason="default",
        latency_ms=51.0,
        decided_at=T0,
    ),
    "training": Training(
        tenant="acme",
        request_id="r-1",
        label=True,
        source="inline",
        enriched=ENRICHED,
        labelled_at=T0,
    ),
    "decoy": DecoyEntry(
        tenant="acme",
        request_id="r-1",
        enriched=encode(ENRICHED).decode(),
        model_versions={"arf": 3, "lr": 2},
        logged_at=T0,
    ),
    "drift": DriftEvent(
        tenant="acme",
        model="arf",
        signal="feature:amount",
        training_offset=1200,
        n_before=1000,
        n_after=200,
        mean_before=0.1,
        mean_after=-0.4,
        detected_at=T0,
    ),
    "control": ControlCommand(
        tenant="acme",
        command="set-policy",
        args={"deadline_ms": 40, "fallback": ["lr", "mean"]},
        command_id="c-9",
        issued_at=T0,
    ),
    "checkpoint": CheckpointMeta(
        tenant="acme",
        model="arf",
        version=3,
        training_offset=-1,
        metrics={"accuracy": 0.91},
        created_at=T0,
        size_bytes=52_311,
        signature="0f" * 32,
        parent_version=2,
    ),
    "dead-letter": dead_letter_for(
        "events", 3, 42, b"acme", b'{"tenant": \xff}', ValueError("bad"), "decode", T0
    ),
}


def test_every_kind_has_a_sample():
    assert {type(r) for r in SAMPLES.values()} == set(KINDS.values())


@pytest.mark.parametrize("record", list(SAMPLES.values()), ids=list(SAMPLES))
def test_round_trip(record):
    data = encode(record)
    by_class = decode(type(record), data, LIMITS)
    by_name = decode(kind_name(type(record)), data, LIMITS)
    assert type(by_class) is type(record)
    assert by_class == record
    assert by_name == record
    # Byte equality also pins JSON types: True and 1 compare equal in Python.
    assert encode(by_class) == data
    assert encode(record, LIMITS) == data


@pytest.mark.parametrize(
    "record, expected",
    [
        (
            SAMPLES["label"],
            b'{"tenant":"acme","request_id":"r-1","label":"fraud","ts":1700000000.5}',
        ),
        (
            SAMPLES["result-default"],
            b'{"tenant":"acme","request_id":"r-1","entity":"user-7","reason":"default",'
            b'"latency_ms":51.0,"decided_at":1700000000.5,"model":null,"version":null,'
            b'"role":null,"output":null}',
        ),
        (
            StateUpdate(tenant="a", entity="e", version=1, ts=2.0, values={"x": 1.5}),
            b'{"tenant":"a","entity":"e","version":1,"ts":2.0,"values":{"x":1.5},'
            b'"scope":"entity"}',
        ),
    ],
    ids=["label", "result-default", "state-update"],
)
def test_encoding_is_plain_json(record, expected):
    assert encode(record) == expected


def test_nested_record_is_a_plain_object():
    data = orjson.loads(encode(SAMPLES["training"]))
    assert data["enriched"] == orjson.loads(encode(ENRICHED))
    assert "__faust" not in data and "__faust" not in data["enriched"]


def plain(record, **changes):
    """The record as a JSON-ready dict, with fields replaced (`DROP` removes one)."""
    obj = to_plain(record)
    for name, value in changes.items():
        if value is DROP:
            del obj[name]
        else:
            obj[name] = value
    return obj


DROP = object()
EVENT_JSON = plain(EVENT)
TRAINING_JSON = plain(SAMPLES["training"])


# kind, JSON object -> field, exact value, exact type
@pytest.mark.parametrize(
    "kind, obj, field, value, value_type",
    [
        ("events", plain(EVENT, label=DROP), "label", None, type(None)),
        ("events", plain(EVENT, label=True), "label", True, bool),
        ("events", plain(EVENT, label=1), "label", 1, int),
        ("events", plain(EVENT, label=0.5), "label", 0.5, float),
        ("events", plain(EVENT, label="spam"), "label", "spam", str),
        ("events", plain(EVENT, ts=1700000000), "ts", 1700000000.0, float),
        ("events", plain(EVENT, features={"n": 3}), "features", {"n": 3.0}, dict),
        ("events", plain(EVENT, entity="ü ß 東京"), "entity", "ü ß 東京", str),
        ("events", plain(EVENT, features={}), "features", {}, dict),
        ("state-updates", plain(SAMPLES["state-update"], scope=DROP), "scope", "entity", str),
        ("scores", plain(SAMPLES["score"], output=DROP), "output", None, type(None)),
        ("scores", plain(SAMPLES["score"], proba=1), "proba", 1.0, float),
        ("scores", plain(SAMPLES["score"], proba=0), "proba", 0.0, float),
        ("results", plain(SAMPLES["result"], version=DROP), "version", None, type(None)),
        ("checkpoints", plain(SAMPLES["checkpoint"], parent_version=None), "parent_version", None, type(None)),
        ("training", TRAINING_JSON, "enriched", ENRICHED, Enriched),
        ("drift", plain(SAMPLES["drift"], signal="error"), "signal", "error", str),
        ("drift", plain(SAMPLES["drift"], mean_after=-2), "mean_after", -2.0, float),
        ("dead-letter", plain(SAMPLES["dead-letter"], key=None), "key", None, type(None)),
        ("dead-letter", plain(SAMPLES["dead-letter"], partition=-1, offset=-1), "offset", -1, int),
    ],
)
def test_decoded_field_values(kind, obj, field, value, value_type):
    record = decode(kind, orjson.dumps(obj), LIMITS)
    assert getattr(record, field) == value
    assert type(getattr(record, field)) is value_type
    if isinstance(value, dict):
        assert {k: type(v) for k, v in getattr(record, field).items()} == {
            k: type(v) for k, v in value.items()
        }


def test_derived_kinds_get_a_larger_payload_limit():
    # Four full feature maps of long names: too big for an event, fine enriched.
    big = {f"{'f' * 240}{i:04d}": float(i) for i in range(256)}
    enriched = Enriched(**{**to_plain(ENRICHED), "features": big, "state": big, "aggregates": big})
    data = encode(enriched)
    assert 2 * LIMITS.max_payload_bytes < len(data) < LIMITS.payload_limit("enriched")
    assert decode("enriched", data, LIMITS) == enriched
    training = Training(**{**to_plain(SAMPLES["training"]), "enriched": enriched})
    assert decode("training", encode(training), LIMITS) == training
    decoy = DecoyEntry(**{**to_plain(SAMPLES["decoy"]), "enriched": data.decode()})
    assert decode("decoy-log", encode(decoy), LIMITS) == decoy


def raw(obj: dict, field: str, literal: bytes) -> bytes:
    """JSON of `obj` with `field`'s value replaced by a literal JSON token."""
    return orjson.dumps({**obj, field: "@@"}).replace(b'"@@"', literal)


LONG = "x" * 257
DEEP: dict = {}
_node = DEEP
for _ in range(40):
    _node["d"] = {}
    _node = _node["d"]

# kind, payload -> exact reason, field
TENANT_RULE = "tenant: a tenant id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
INVALID = {
    "missing field": ("events", plain(EVENT, tenant=DROP), "missing field: tenant", "tenant"),
    "missing nested field": (
        "training",
        {**TRAINING_JSON, "enriched": plain(ENRICHED, state=DROP)},
        "missing field: enriched.state",
        "enriched.state",
    ),
    "unknown field": ("events", {**EVENT_JSON, "tenantt": "acme"}, "unknown field: tenantt", "tenantt"),
    "faust metadata": (
        "events",
        {**EVENT_JSON, "__faust": {"ns": "x"}},
        "unknown field: __faust",
        "__faust",
    ),
    "unknown nested field": (
        "training",
        {**TRAINING_JSON, "enriched": {**plain(ENRICHED), "extra": 1}},
        "unknown field: enriched.extra",
        "enriched.extra",
    ),
    "id wrong type": (
        "events",
        plain(EVENT, tenant=5),
        "tenant: expected a string, got integer",
        "tenant",
    ),
    "id empty": ("events", plain(EVENT, tenant=""), "tenant: empty string", "tenant"),
    "tenant a path": ("events", plain(EVENT, tenant="../../etc/passwd"),
                      TENANT_RULE + " (got '../../etc/passwd')", "tenant"),
    "tenant with a space": ("labels", {"tenant": "ac me", "request_id": "r", "label": 1, "ts": 1.0},
                            TENANT_RULE + " (got 'ac me')", "tenant"),
    "tenant too long": ("enriched", plain(ENRICHED, tenant="t" * 65),
                        TENANT_RULE + f" (got {'t' * 64!r})",
                        "tenant"),
    "tenant all outside global state": ("events", plain(EVENT, tenant="*"),
                                        TENANT_RULE + " (got '*')", "tenant"),
    "id too long": (
        "events",
        plain(EVENT, request_id=LONG),
        "request_id: longer than 256 characters (257)",
        "request_id",
    ),
    "id control char": (
        "events",
        plain(EVENT, entity="u\u0007x"),
        "entity: control or unprintable character at index 1",
        "entity",
    ),
    "id line separator": (
        "labels",
        plain(SAMPLES["label"], request_id="r\u2028"),
        "request_id: control or unprintable character at index 1",
        "request_id",
    ),
    "feature name control char": (
        "events",
        plain(EVENT, features={"a\nb": 1.0}),
        "features.'a\\nb' (name): control or unprintable character at index 1",
        "features.'a\\nb' (name)",
    ),
    "feature name too long": (
        "events",
        plain(EVENT, features={LONG: 1.0}),
        f"features.'{'x' * 64}'… (name): longer than 256 characters (257)",
        f"features.'{'x' * 64}'… (name)",
    ),
    "ts as bool": ("events", plain(EVENT, ts=True), "ts: expected a number, got boolean", "ts"),
    "ts as string": ("events", plain(EVENT, ts="1"), "ts: expected a number, got string", "ts"),
    "ts negative": ("events", plain(EVENT, ts=-1.0), "ts: must be >= 0 (got -1.0)", "ts"),
    "feature as bool": (
        "events",
        plain(EVENT, features={"amount": False}),
        "features.amount: expected a number, got boolean",
        "features.amount",
    ),
    "feature as null (NaN written by orjson)": (
        "events",
        plain(EVENT, features={"amount": None}),
        "features.amount: expected a number, got null",
        "features.amount",
    ),
    "features not object": (
        "events",
        plain(EVENT, features=[1.0]),
        "features: expected an object, got array",
        "features",
    ),
    "too many features": (
        "events",
        plain(EVENT, features={f"f{i}": 1.0 for i in range(257)}),
        "features: too many entries (257 > 256)",
        "features",
    ),
    "label array": (
        "events",
        plain(EVENT, label=[1]),
        "label: expected a boolean, integer, number or string, got array",
        "label",
    ),
    "label control char": (
        "labels",
        plain(SAMPLES["label"], label="a\x00"),
        "label: control or unprintable character at index 1",
        "label",
    ),
    "label beyond int64": (
        "labels",
        raw(plain(SAMPLES["label"]), "label", b"9223372036854775808"),
        "label: integer out of 64-bit range (9223372036854775808)",
        "label",
    ),
    "version float": (
        "state-updates",
        plain(SAMPLES["state-update"], version=1.0),
        "version: expected an integer, got number",
        "version",
    ),
    "version bool": (
        "state-updates",
        plain(SAMPLES["state-update"], version=True),
        "version: expected an integer, got boolean",
        "version",
    ),
    "version negative": (
        "state-updates",
        plain(SAMPLES["state-update"], version=-1),
        "version: out of range (must be >= 0, got -1)",
        "version",
    ),
    "version beyond int64": (
        "state-updates",
        raw(plain(SAMPLES["state-update"]), "version", b"18446744073709551615"),
        "version: out of range (must be <= 9223372036854775807, got 18446744073709551615)",
        "version",
    ),
    "version beyond uint64 (parsed as float)": (
        "state-updates",
        raw(plain(SAMPLES["state-update"]), "version", b"18446744073709551616"),
        "version: expected an integer, got number",
        "version",
    ),
    "bad scope": (
        "state-updates",
        plain(SAMPLES["state-update"], scope="local"),
        "scope: must be one of entity, global (got 'local')",
        "scope",
    ),
    "star tenant for one entity": (
        "state-updates",
        plain(SAMPLES["state-update"], tenant="*"),
        "tenant: '*' is only allowed with scope global",
        "tenant",
    ),
    "state_version below -1": (
        "enriched",
        plain(ENRICHED, state_version=-2),
        "state_version: out of range (must be >= -1, got -2)",
        "state_version",
    ),
    "deployment not object": (
        "enriched",
        plain(ENRICHED, deployment=["arf"]),
        "deployment: expected an object, got array",
        "deployment",
    ),
    "deployment too deep": (
        "enriched",
        plain(ENRICHED, deployment=DEEP),
        "deployment: nested deeper than 32 levels",
        "deployment",
    ),
    "bad role": (
        "scores",
        plain(SAMPLES["score"], role="boss"),
        "role: must be one of champion, challenger, shadow, canary (got 'boss')",
        "role",
    ),
    "proba above 1": (
        "scores",
        plain(SAMPLES["score"], proba=1.5),
        "proba: must be within [0, 1] (got 1.5)",
        "proba",
    ),
    "negative latency": (
        "scores",
        plain(SAMPLES["score"], latency_ms=-0.1),
        "latency_ms: must be >= 0 (got -0.1)",
        "latency_ms",
    ),
    "error too long": (
        "scores",
        plain(SAMPLES["score"], error="e" * 1001),
        "error: longer than 1000 characters (1001)",
        "error",
    ),
    "bad reason": (
        "results",
        plain(SAMPLES["result"], reason="random"),
        "reason: must be one of champion, fallback-deadline, fallback-error, ab-variant,"
        " default (got 'random')",
        "reason",
    ),
    "bad result role": (
        "results",
        plain(SAMPLES["result"], role="canary!"),
        "role: must be one of champion, challenger, shadow, canary (got 'canary!')",
        "role",
    ),
    "bad source": (
        "training",
        plain(SAMPLES["training"], source="batch"),
        "source: must be one of inline, delayed (got 'batch')",
        "source",
    ),
    "nested enriched not object": (
        "training",
        {**TRAINING_JSON, "enriched": "{}"},
        "enriched: expected a JSON object, got string",
        "enriched",
    ),
    "nested enriched bool feature": (
        "training",
        {**TRAINING_JSON, "enriched": plain(ENRICHED, features={"amount": True})},
        "enriched.features.amount: expected a number, got boolean",
        "enriched.features.amount",
    ),
    "nested enriched of another tenant": (
        "training",
        {**TRAINING_JSON, "enriched": plain(ENRICHED, tenant="evil")},
        "enriched.tenant: does not match tenant ('evil' != 'acme')",
        "enriched.tenant",
    ),
    "nested enriched of another request": (
        "training",
        {**TRAINING_JSON, "enriched": plain(ENRICHED, request_id="r-2")},
        "enriched.request_id: does not match request_id ('r-2' != 'r-1')",
        "enriched.request_id",
    ),
    "decoy negative model version": (
        "decoy-log",
        plain(SAMPLES["decoy"], model_versions={"arf": -1}),
        "model_versions.arf: out of range (must be >= 0, got -1)",
        "model_versions.arf",
    ),
    "bad drift signal": (
        "drift",
        plain(SAMPLES["drift"], signal="latency"),
        "signal: must be error, divergence or feature:<name> (got 'latency')",
        "signal",
    ),
    "drift signal without feature name": (
        "drift",
        plain(SAMPLES["drift"], signal="feature:"),
        "signal (feature name): empty string",
        "signal (feature name)",
    ),
    "bad command": (
        "control",
        plain(SAMPLES["control"], command="delete"),
        "command: must be one of deploy, promote, retire, set-policy, rollback (got 'delete')",
        "command",
    ),
    "args not object": (
        "control",
        plain(SAMPLES["control"], args=None),
        "args: expected an object, got null",
        "args",
    ),
    "signature uppercase": (
        "checkpoints",
        plain(SAMPLES["checkpoint"], signature="0F" * 32),
        "signature: not lowercase hex",
        "signature",
    ),
    "signature odd length": (
        "checkpoints",
        plain(SAMPLES["checkpoint"], signature="abc"),
        "signature: not lowercase hex",
        "signature",
    ),
    "metric NaN written as null": (
        "checkpoints",
        plain(SAMPLES["checkpoint"], metrics={"r2": None}),
        "metrics.r2: expected a number, got null",
        "metrics.r2",
    ),
    "dead letter value too long": (
        "dead-letter",
        plain(SAMPLES["dead-letter"], value="v" * 4097),
        "value: longer than 4096 characters (4097)",
        "value",
    ),
    "non-object JSON array": ("events", [EVENT_JSON], "payload: expected a JSON object, got array", None),
    "non-object JSON string": ("events", "x", "payload: expected a JSON object, got string", None),
    "non-object JSON null": ("events", None, "payload: expected a JSON object, got null", None),
}


@pytest.mark.parametrize("kind, obj, reason, field", list(INVALID.values()), ids=list(INVALID))
def test_invalid_object(kind, obj, reason, field):
    data = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    with pytest.raises(InvalidRecord) as caught:
        decode(kind, data, LIMITS)
    assert caught.value.reason == reason
    assert str(caught.value) == reason
    assert caught.value.field == field


EVENT_BYTES = orjson.dumps(EVENT_JSON)

# payload bytes -> reason prefix (the rest is orjson's wording)
INVALID_BYTES = {
    "1e400 (inf after parsing)": (raw(EVENT_JSON, "ts", b"1e400"), "payload: invalid JSON (number is infinity"),
    "-1e400 in features": (
        raw(EVENT_JSON, "features", b'{"amount":-1e400}'),
        "payload: invalid JSON (number is infinity",
    ),
    "NaN literal": (raw(EVENT_JSON, "ts", b"NaN"), "payload: invalid JSON (unexpected character"),
    "Infinity literal": (raw(EVENT_JSON, "ts", b"Infinity"), "payload: invalid JSON (unexpected character"),
    "truncated": (EVENT_BYTES[:-1], "payload: invalid JSON ("),
    "empty": (b"", "payload: invalid JSON (Input is a zero-length, empty document"),
    "deep nesting": (b"[" * 5000 + b"]" * 5000, "payload: invalid JSON (depth limit exceeded"),
    "lone surrogate escape": (raw(EVENT_JSON, "tenant", b'"\\ud800"'), "payload: invalid JSON (no low surrogate"),
    "raw control char": (
        raw(EVENT_JSON, "tenant", b'"a\x01"'),
        "payload: invalid JSON (unexpected control character",
    ),
    "invalid UTF-8": (raw(EVENT_JSON, "tenant", b'"\xff"'), "payload: not valid UTF-8 (byte 11)"),
    "UTF-8 encoded surrogate": (b'{"tenant":"\xed\xa0\x80"}', "payload: not valid UTF-8 (byte 11)"),
    "oversize": (
        orjson.dumps(plain(EVENT, features={f"{'f' * 250}{i}": 1.0 for i in range(256)})),
        "payload: 66562 bytes exceeds the limit of 65536",
    ),
}


@pytest.mark.parametrize("data, prefix", list(INVALID_BYTES.values()), ids=list(INVALID_BYTES))
def test_invalid_bytes(data, prefix):
    with pytest.raises(InvalidRecord) as caught:
        decode("events", data, LIMITS)
    assert caught.value.reason.startswith(prefix)
    assert caught.value.field is None


def test_oversize_reason_is_exact():
    data = EVENT_BYTES + b" " * (LIMITS.max_payload_bytes + 1 - len(EVENT_BYTES))
    with pytest.raises(InvalidRecord, match=r"^payload: 65537 bytes exceeds the limit of 65536$"):
        decode("events", data, LIMITS)
    assert decode("events", data[:-1], LIMITS) == EVENT


@pytest.mark.parametrize(
    "data, reason",
    [
        (None, "payload: expected bytes, got NoneType"),
        ("{}", "payload: expected bytes, got str"),
    ],
    ids=["tombstone", "str"],
)
def test_non_bytes_payload(data, reason):
    with pytest.raises(InvalidRecord, match=f"^{reason}$"):
        decode("events", data, LIMITS)


@pytest.mark.parametrize(
    "data", [bytearray(EVENT_BYTES), memoryview(EVENT_BYTES)], ids=["bytearray", "memoryview"]
)
def test_bytes_like_payloads(data):
    assert decode(Event, data, LIMITS) == EVENT


@pytest.mark.parametrize(
    "limits, data, reason",
    [
        (Limits(max_features=1), EVENT_BYTES, "features: too many entries (2 > 1)"),
        (Limits(max_string_len=3), EVENT_BYTES, "tenant: longer than 3 characters (4)"),
        (Limits(max_payload_bytes=10), EVENT_BYTES, f"payload: {len(EVENT_BYTES)} bytes exceeds the limit of 10"),
    ],
    ids=["max_features", "max_string_len", "max_payload_bytes"],
)
def test_limits_are_configurable(limits, data, reason):
    with pytest.raises(InvalidRecord) as caught:
        decode("events", data, limits)
    assert caught.value.reason == reason


@pytest.mark.parametrize("kind", ["event", "Events", object, int], ids=str)
def test_unknown_kind_is_a_lookup_error(kind):
    with pytest.raises(LookupError, match="unknown record kind"):
        decode(kind, EVENT_BYTES, LIMITS)


# record -> reason of encode(record, LIMITS)
@pytest.mark.parametrize(
    "record, reason",
    [
        (
            Event(**{**EVENT_JSON, "features": {"amount": float("nan")}}),
            "features.amount: expected a number, got null",
        ),
        (
            Score(**{**plain(SAMPLES["score"]), "proba": float("nan")}),
            "proba: changed by encoding (NaN or infinity?)",
        ),
        (
            Event(**{**EVENT_JSON, "label": object()}),
            "cannot encode Event: Type is not JSON serializable: object",
        ),
        (Event(**{**EVENT_JSON, "request_id": "x" * 70_000}), "payload: 70"),
    ],
    ids=["nan feature", "nan proba", "unserializable", "oversize"],
)
def test_checked_encode_refuses_what_decode_would(record, reason):
    with pytest.raises(InvalidRecord) as caught:
        encode(record, LIMITS)
    assert caught.value.reason.startswith(reason)


def test_numpy_scalars_encode_as_plain_numbers():
    np = pytest.importorskip("numpy")
    score = Score(**{**plain(SAMPLES["score"]), "output": np.bool_(True), "proba": np.float64(0.25)})
    back = decode(Score, encode(score), LIMITS)
    assert (back.output, back.proba) == (True, 0.25)
    assert (type(back.output), type(back.proba)) == (bool, float)
