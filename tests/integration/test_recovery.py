"""kill -9 a model pool mid-stream, restart it, and compare every model's predictions with a
run that never crashed: real broker, real ``faust worker`` processes.

Two environments get the same training stream (same bytes, same order): ``crash``, whose
pool is killed with SIGKILL half-way and restarted, and ``reference``, whose pool runs
through. Each pool chains every model's progressive prediction on every training record
into a digest (learning.progress), carried in its checkpoints and shown on /stats/: equal
digests and counts mean every one of the predictions is equal (zero mismatches), before the
crash, across the replay, and on every record after the restart.

`kill9_recovery` is the scenario as a function, for longer runs (``bench/faults.py``):
``kill9_recovery(bootstrap, log_dir, n_records=10_000)``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from kafka_io import produce
from harness.workers import FaustWorker
from schemas import Enriched, Training, encode

from .conftest import fresh_env, worker_settings

POOL = "fast"
TENANTS = ("t-alpha", "t-beta", "t-gamma", "t-delta", "t-epsilon")


def deployment(with_arf: bool) -> dict:
    def model(name, spec, role, **params):
        return {"name": name, "spec": spec, "params": params, "role": role, "pool": POOL,
                "version": 1}

    models = [model("logreg", "logreg", "champion"),
              model("hoeffding", "hoeffding", "challenger", grace_period=50),
              model("baseline", "baseline", "canary")]
    if with_arf:
        models.append(model("arf", "arf", "shadow", n_models=3))
    return {"task": "classification", "version": 1, "models": models,
            "policy": {"deadline_ms": 1000.0, "fallback": [], "ab_model": None, "ab_split": 0.0,
                       "default_output": None}}


def training_stream(n: int, seed: int = 5, with_arf: bool = False) -> list[tuple[bytes, bytes]]:
    """`n` labelled examples over the tenants, each tenant with its own concept."""
    rng = random.Random(seed)
    d = deployment(with_arf)
    out = []
    for i in range(n):
        tenant = TENANTS[i % len(TENANTS)]
        k = TENANTS.index(tenant)
        x = {"a": rng.uniform(-1, 1), "b": rng.uniform(-1, 1), "c": float(rng.randint(0, 9))}
        label = (x["a"] * (k + 1) + x["b"] * (2 - k) + (x["c"] > 4) * 0.3 + rng.gauss(0, 0.3)) > 0
        request_id = f"{tenant}-{i}"
        enriched = Enriched(tenant=tenant, request_id=request_id, entity=f"e{i % 13}",
                            ts=1_700_000_000.0 + i, features=x, state={}, state_version=-1,
                            aggregates={}, context={}, context_version=-1, deployment=d,
                            enriched_at=1_700_000_000.0 + i)
        record = Training(tenant=tenant, request_id=request_id, label=label, source="inline",
                          enriched=enriched, labelled_at=1_700_000_000.0 + i)
        out.append((tenant.encode(), encode(record)))
    return out


@dataclass
class Outcome:
    reference: dict  # tenant -> model -> {"digest", "predictions", ...} of the crash-free run
    recovered: dict  # the same, from the pool that was killed and restarted
    killed_after: int  # training records the crashed pool had learnt when it was killed
    restart_ready_s: float  # restart -> Faust "Ready"
    caught_up_s: float  # restart -> every model has learnt every record
    recovery: dict  # the restarted pool's recovery counters (restored, replayed, ms, ...)

    def mismatches(self) -> list[tuple[str, str]]:
        keys = sorted(set(self.reference) | set(self.recovered))
        return [(t, m) for t in keys
                for m in sorted(set(self.reference.get(t, {})) | set(self.recovered.get(t, {})))
                if _fingerprint(self.reference, t, m) != _fingerprint(self.recovered, t, m)]


def _fingerprint(models: dict, tenant: str, model: str):
    m = models.get(tenant, {}).get(model, {})
    return m.get("predictions"), m.get("digest")


def _learnt(worker: FaustWorker) -> dict:
    try:
        return worker.stats()["models"]
    except OSError:
        return {}


def _wait_until(what, check, timeout: float, workers=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w in workers:
            if w.proc.poll() is not None:
                raise RuntimeError(f"{w.name} exited\n{w.tail()}")
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise TimeoutError(f"{what} not reached in {timeout}s")


def _complete(models: dict, expected: dict, names: list[str]) -> bool:
    return all(models.get(t, {}).get(m, {}).get("predictions") == n
               for t, n in expected.items() for m in names)


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == topic and o.offset > 0)


def kill9_recovery(bootstrap: str, log_dir: Path, n_records: int = 2500, with_arf: bool = False,
                   every_n: int = 150, ports=None, timeout: float = 180.0) -> Outcome:
    """Run the scenario and return both runs' per-model digests (see `Outcome.mismatches`).

    40% of the stream is produced and the crash pool learns and commits all of it (its
    models have learnt records since their last checkpoint: those are replayed on recovery);
    the next 20% is produced and the pool is killed with SIGKILL while learning it (those
    records are redelivered); the rest is produced and the pool restarted.
    Checkpoints come every `every_n` records per model only, so the replay is certain.
    """
    from app.settings import Settings
    from app.topics import declare_topics

    ports = ports or itertools.count(int(os.environ.get("TEST_WEB_PORT_BASE", "16100")) + 50)
    crash, ref = fresh_env(), fresh_env()
    # The session timeout bounds how long the group waits for the killed worker before
    # giving its partitions to the restarted one.
    common = {"checkpoint_every_n": every_n, "checkpoint_every_s": 3600.0, "checkpoint_keep": 3,
              "session_timeout_s": 8}
    for env in (crash, ref):
        asyncio.run(declare_topics(Settings(broker=f"kafka://{bootstrap}", env=env, partitions=4)))

    def pool(env: str, name: str) -> FaustWorker:
        s = worker_settings(bootstrap, env, POOL, **common)
        s["web_port"] = next(ports)
        return FaustWorker(s, log_dir, name=name)

    records = training_stream(n_records, with_arf=with_arf)
    per_tenant = {t: sum(1 for k, _ in records if k == t.encode()) for t in TENANTS}
    names = [m["name"] for m in deployment(with_arf)["models"]]
    cuts = [0, int(len(records) * 0.4), int(len(records) * 0.6), len(records)]
    batches = [records[a:b] for a, b in zip(cuts, cuts[1:])]
    first, reference = pool(crash, f"{crash}-pool-1"), pool(ref, f"{ref}-pool")
    restarted = pool(crash, f"{crash}-pool-2")
    try:
        for w in (first, reference):
            w.start()
        for w in (first, reference):
            w.wait_ready()
        for env in (crash, ref):
            asyncio.run(produce(bootstrap, f"{env}.training", batches[0]))
        group, topic = f"rendezvous-{crash}-{POOL}", f"{crash}.training"
        _wait_until("the first batch committed",
                    lambda: asyncio.run(_committed(bootstrap, group, topic)) == cuts[1],
                    timeout, [first])

        def learnt():
            return sum(m.get("predictions", 0) for t in _learnt(first).values()
                       for m in list(t.values())[:1])

        asyncio.run(produce(bootstrap, f"{crash}.training", batches[1]))
        killed_after = _wait_until("mid-batch", lambda: (n := learnt()) > cuts[1] and n,
                                   timeout, [first])
        first.kill()
        asyncio.run(produce(bootstrap, f"{ref}.training", batches[1]))
        for env in (crash, ref):
            asyncio.run(produce(bootstrap, f"{env}.training", batches[2]))
        began = time.monotonic()
        restarted.start()
        ready_s = restarted.wait_ready()
        _wait_until("the restarted pool caught up",
                    lambda: _complete(_learnt(restarted), per_tenant, names), timeout, [restarted])
        caught_up_s = time.monotonic() - began
        _wait_until("the reference pool caught up",
                    lambda: _complete(_learnt(reference), per_tenant, names), timeout, [reference])
        counts = restarted.stats()["counts"]
        recovery = {k: v for k, v in counts.items() if k.startswith(("recover", "checkpoint"))}
        return Outcome(reference=_learnt(reference), recovered=_learnt(restarted),
                       killed_after=killed_after, restart_ready_s=round(ready_s, 2),
                       caught_up_s=round(caught_up_s, 2), recovery=recovery)
    finally:
        for w in (first, reference, restarted):
            if w.proc is not None:
                w.stop()


def test_kill9_then_restart_predicts_exactly_like_a_run_that_never_crashed(kafka, log_dir):
    outcome = kill9_recovery(kafka, log_dir)
    print(f"\nkill -9 after {outcome.killed_after} records; restart ready in "
          f"{outcome.restart_ready_s}s, caught up in {outcome.caught_up_s}s; {outcome.recovery}")
    assert outcome.mismatches() == []
    # The restarted pool restored checkpoints and replayed the records after them.
    assert outcome.recovery["recovery_restored"] > 0
    assert outcome.recovery["recovery_replayed"] > 0
    assert outcome.recovery["recovery_rejected"] == 0
    # Every model of every tenant learnt every record exactly once in both runs.
    assert {t: {m: v["predictions"] for m, v in ms.items()}
            for t, ms in outcome.recovered.items()} == {
        t: {m: v["predictions"] for m, v in ms.items()} for t, ms in outcome.reference.items()}
