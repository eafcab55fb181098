"""The demo's stream generator: seeded, time-ordered, valid records, concept change midway."""

from collections import Counter

import orjson
import pytest

from demo.generate import GLOBAL_CONTEXT, DemoStream, tenant_specs
from schemas import Limits, decode


@pytest.fixture(scope="module")
def stream() -> DemoStream:
    return DemoStream(seed=3, seconds=10.0, rate=100.0, tenants=20, entities=50,
                      start_ts=1_800_000_000.0, run_id="t")


@pytest.fixture(scope="module")
def records(stream):
    return list(stream.timed())


def test_same_seed_same_bytes_other_seed_other_bytes(stream, records):
    assert list(stream.timed()) == records
    other = DemoStream(seed=4, seconds=10.0, rate=100.0, start_ts=1_800_000_000.0, run_id="t")
    assert list(other.timed()) != records


def test_records_are_in_time_order_and_yielded_as_triples(stream, records):
    assert all(a.ts <= b.ts for a, b in zip(records, records[1:]))
    assert list(stream) == [(r.topic, r.key, r.value) for r in records]


def test_every_record_passes_the_schemas_and_is_keyed_by_tenant(records):
    limits = Limits()
    for r in records:
        rec = decode(r.topic, r.value, limits)
        assert r.key == rec.tenant.encode()


def test_events_carry_float_features_and_unique_request_ids(stream, records):
    events = [orjson.loads(r.value) for r in records if r.topic == "events"]
    assert len(events) == stream.n_events == 1000
    assert len({e["request_id"] for e in events}) == len(events)
    assert all(e["request_id"].startswith("t-") for e in events)
    for e in events:
        assert e["features"] and all(type(v) is float for v in e["features"].values())
        assert e["entity"] in {f"e{i:03d}" for i in range(50)}
    assert len({e["tenant"] for e in events}) == 20


def test_half_the_tenants_label_inline_the_others_later_on_the_labels_topic(records):
    specs = {t.name: t for t in tenant_specs(20, 3)}
    assert Counter(t.labels for t in specs.values()) == {"inline": 10, "delayed": 10}
    sent_at = {}
    for r in records:
        rec = orjson.loads(r.value)
        if r.topic == "events":
            inline = specs[rec["tenant"]].labels == "inline"
            assert ("label" in rec) == inline
            if inline:
                assert type(rec["label"]) is bool
            else:
                sent_at[rec["request_id"]] = rec["ts"]
        elif r.topic == "labels":
            assert specs[rec["tenant"]].labels == "delayed"
            delay = rec["ts"] - sent_at.pop(rec["request_id"])  # its event came first
            assert 0.5 <= delay <= 2.0
    assert not sent_at  # every delayed label is emitted, also those due after the end


def test_state_versions_increase_and_the_global_context_is_updated(records):
    updates = [orjson.loads(r.value) for r in records if r.topic == "state-updates"]
    glob = [u for u in updates if u["scope"] == "global"]
    assert len(glob) == 2  # every 5 s over 10 s
    assert all(u["tenant"] == "*" and u["entity"] == GLOBAL_CONTEXT for u in glob)
    assert 0 < len(updates) - len(glob) < 200
    last: dict = {}
    for u in updates:
        key = (u["tenant"], u["entity"])
        assert u["version"] > last.get(key, -1)
        last[key] = u["version"]


def test_every_tenant_changes_concept_midway():
    specs = tenant_specs(20, 7)
    assert all(t.before != t.after for t in specs)
    assert {t.family for t in specs} == {"agrawal", "sea"}
    stream = DemoStream(seed=7, seconds=4.0, rate=50.0, start_ts=100.0)
    assert stream.change_ts == 102.0
