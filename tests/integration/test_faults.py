"""Short fault drills (the long ones: make bench-faults): bad input, kill -9, broker outages.

Each drill runs its own broker (it pauses and kills it) and only kills processes it started.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import orjson
import pytest

from harness.faults import (Cluster, Load, broker_pause, broker_restart, crash_loop,
                            label_mismatches, verify)
from harness.fuzz import corpus
from kafka_io import produce, read_all
from schemas import Result, encode

from .conftest import KAFKA_PORT, REPO, fresh_env

FAULT_PORT = KAFKA_PORT + 7
# Load goes on this long after a fault, so the drill sees the recovered workers serve and learn.
AFTER_FAULT_S = 6


@pytest.fixture
def cluster(request):
    """Serving + fast with a 5 s deadline; a test overrides them with
    ``@pytest.mark.parametrize("cluster", [{"roles": ..., "deadline_ms": ...}], indirect=True)``."""
    wanted = {"roles": ("serving", "fast"), "deadline_ms": 5000, **getattr(request, "param", {})}
    c = Cluster(REPO / "var" / f"faults-{FAULT_PORT}", FAULT_PORT, fresh_env(),
                roles=wanted["roles"],
                web_port_base=int(os.environ.get("TEST_WEB_PORT_BASE", "16100")) + 60,
                settings={"deadline_ms": wanted["deadline_ms"]})
    c.start()
    yield c
    c.stop()


def test_fuzzed_input_is_dead_lettered_exactly_and_every_valid_request_answered(cluster):
    records = corpus(3000, seed=5)
    asyncio.run(produce(cluster.bootstrap, f"{cluster.env}.events",
                        [(r.key, r.value) for r in records]))
    valid = [r.request_id for r in records if not r.bad]
    outcome = verify(cluster.bootstrap, cluster.env, valid)
    dead = asyncio.run(read_all(cluster.bootstrap, f"{cluster.env}.dead-letter", quiet_s=2.0))
    assert (outcome["lost"], outcome["duplicates"]) == (0, 0)
    assert len(dead) == sum(r.bad for r in records)
    assert {d["origin_topic"] for d in dead} == {f"{cluster.env}.events"}
    assert cluster.crashes() == 0
    # The pool learned exactly the valid requests: nothing invalid reached a model.
    stats = cluster.workers["fast"].stats()
    assert stats["counts"]["learned"] == len(valid)


def served_after(cluster: Cluster, request_ids: list[str]) -> dict:
    """Answers by reason for ``request_ids``."""
    wanted = set(request_ids)
    results = asyncio.run(read_all(cluster.bootstrap, f"{cluster.env}.results", quiet_s=2.0))
    return dict(Counter(r["reason"] for r in results if r["request_id"] in wanted))


def test_answered_requests_stay_answered_after_a_restart(cluster):
    """Each answer's closing marker reaches the changelog (once Kafka has the result), so the
    same events sent again after the serving worker restarts get no second result."""
    events = [(f"ra-t{i % 4}".encode(),
               orjson.dumps({"tenant": f"ra-t{i % 4}", "request_id": f"ra-{i}", "entity": "e",
                             "ts": time.time(), "features": {"x": float(i)}}))
              for i in range(40)]
    asyncio.run(produce(cluster.bootstrap, f"{cluster.env}.events", events))
    ids = [f"ra-{i}" for i in range(40)]
    assert verify(cluster.bootstrap, cluster.env, ids)["results"] == 40
    serving = cluster.workers["serving"]
    assert serving.stop() == 0
    cluster.restart("serving")
    asyncio.run(produce(cluster.bootstrap, f"{cluster.env}.events", events))
    deadline = time.monotonic() + 60
    while (redelivered := serving.stats()["counts"].get("requests_redelivered", 0)) < 40 and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    assert redelivered == 40
    outcome = verify(cluster.bootstrap, cluster.env, ids)
    assert (outcome["results"], outcome["duplicates"]) == (40, 0)


@pytest.mark.parametrize("cluster", [{"roles": ("serving",), "deadline_ms": 8000}], indirect=True)
def test_a_request_answered_by_a_worker_that_died_is_not_answered_again(cluster):
    """The dead worker's result for request A reached Kafka, its closing marker did not; B was
    still open. After recovery A is looked up on `results` and closed, B answered by default."""
    serving = cluster.workers["serving"]
    events = [(b"da-t1", orjson.dumps({"tenant": "da-t1", "request_id": rid, "entity": "e",
                                        "ts": time.time(), "features": {"x": 1.0}}))
              for rid in ("da-A", "da-B")]
    asyncio.run(produce(cluster.bootstrap, f"{cluster.env}.events", events))
    while serving.stats()["counts"].get("requests", 0) < 2:
        time.sleep(0.2)
    answered = Result(tenant="da-t1", request_id="da-A", entity="e", model="logreg",
                      version=1, role="champion", reason="champion", output=True,
                      latency_ms=1.0, decided_at=time.time())
    asyncio.run(produce(cluster.bootstrap, f"{cluster.env}.results", [(b"da-t1", encode(answered))]))
    time.sleep(1.0)  # let the open slots' changelog writes leave the worker
    cluster.kill9("serving")
    cluster.restart("serving")
    outcome = verify(cluster.bootstrap, cluster.env, ["da-A", "da-B"])
    assert (outcome["results"], outcome["reasons"]) == (2, {"champion": 1, "default": 1})
    assert serving.stats()["counts"]["requests_answered_before_recovery"] == 1


def test_kill_9_of_serving_and_pool_loses_no_request_and_learns_every_label_once(cluster):
    load = Load(cluster.bootstrap, cluster.env, rate=40, tenants=6).start()
    crash_loop(cluster, ["serving", "fast"], rounds=2, interval=6)
    restarted_at = len(load.sent)
    time.sleep(AFTER_FAULT_S)
    sent = load.stop()
    outcome = verify(cluster.bootstrap, cluster.env, sent, timeout=180)
    assert (outcome["lost"], outcome["duplicates"]) == (0, 0)
    assert label_mismatches(cluster, dict(load.labels)) == {}
    # The restarted pool scores again: requests sent once both workers were back are not all
    # answered by default.
    assert served_after(cluster, sent[restarted_at:]).get("champion", 0) > 0
    assert cluster.crashes() == 0
    print(f"\nkill -9 drill: {outcome}")


@pytest.mark.parametrize("fault", ["pause", "kill-and-restart"])
def test_broker_fault_resumes_without_restarting_workers(cluster, fault):
    pids = {role: w.proc.pid for role, w in cluster.workers.items()}
    load = Load(cluster.bootstrap, cluster.env, rate=30, tenants=4).start()
    time.sleep(4)
    if fault == "pause":
        resumed = broker_pause(cluster, seconds=8, tag="probe-pause")
    else:
        resumed = broker_restart(cluster, tag="probe-restart")
    after = len(load.sent)
    time.sleep(AFTER_FAULT_S)
    sent = load.stop()
    outcome = verify(cluster.bootstrap, cluster.env, sent, timeout=180)
    assert outcome["lost"] == 0
    if fault == "pause":  # a killed broker may lose the ack of a result it had written
        assert outcome["duplicates"] == 0
    assert label_mismatches(cluster, dict(load.labels)) == {}
    assert served_after(cluster, sent[after:]).get("champion", 0) > 0
    assert {role: (w.proc.pid, w.proc.poll()) for role, w in cluster.workers.items()} == \
        {role: (pid, None) for role, pid in pids.items()}
    assert cluster.crashes() == 0
    print(f"\nbroker {fault}: resumed {resumed}, {outcome}")


def test_tenants_move_between_pool_workers_with_their_models(cluster):
    """100 tenants on one pool worker; a second joins; the first leaves. Every label is
    learned exactly once, by whichever worker held the tenant's partition at the time."""
    from harness.workers import FaustWorker

    first = cluster.workers["fast"]
    second = FaustWorker({**first.settings, "web_port": first.web_port + 1},
                         first.log_path.parent, name=f"{cluster.env}-fast-2")
    load = Load(cluster.bootstrap, cluster.env, rate=40, tenants=100, prefix="rb").start()
    try:
        time.sleep(8)
        second.start().wait_ready()
        time.sleep(8)
        assert first.stop() == 0  # graceful: it checkpoints what it holds, then leaves
        time.sleep(8)
    finally:
        sent = load.stop()
    try:
        outcome = verify(cluster.bootstrap, cluster.env, sent, timeout=180)
        assert outcome["lost"] == 0
        labels = dict(load.labels)
        deadline = time.monotonic() + 120
        while True:
            held = second.stats()["models"]
            learned = {t: {m: s.get("predictions") for m, s in held.get(t, {}).items()}
                       for t in labels}
            if all(set(ms.values()) == {labels[t]} for t, ms in learned.items()) or \
                    time.monotonic() > deadline:
                break
            time.sleep(1)
        assert learned == {t: {"logreg": n, "baseline": n} for t, n in labels.items()}
        assert cluster.crashes() == 0
    finally:
        second.stop()
