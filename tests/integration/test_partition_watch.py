"""Stalled partitions inside a real worker (one left paused, one whose fetched records are
dropped) and a skipped record (one dropped while later ones are processed) are found by its
partition watch and re-read: every request is answered, and each is logged and counted."""

from __future__ import annotations

import asyncio
import re
import time

import orjson
from aiokafka.partitioner import murmur2

from app.settings import Settings
from app.topics import declare_topics
from harness.faults import verify
from kafka_io import produce
from harness.workers import FaustWorker

from .conftest import fresh_env, worker_settings

STALLS = re.compile(r'rendezvous_partition_stalls_total\{topic="([^"]+)"\} ([0-9.]+)')
HOLES = re.compile(r'rendezvous_commit_holes_total\{topic="([^"]+)"\} ([0-9.]+)')


def partition_of(key: str, partitions: int = 4) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def test_stalled_partitions_and_skipped_records_are_re_read_and_answered(kafka, log_dir):
    env = fresh_env()
    asyncio.run(declare_topics(Settings(broker=f"kafka://{kafka}", env=env, partitions=4)))
    serving = FaustWorker(worker_settings(kafka, env, "serving", stall_after_s=5,
                                          deadline_ms=2000),
                          log_dir, name=f"{env}-serving-stalling",
                          app_module="tests.integration.stalling_app")
    pool = FaustWorker(worker_settings(kafka, env, "fast"), log_dir)
    try:
        for w in (serving, pool):
            w.start()
        for w in (serving, pool):
            w.wait_ready()
        serving.wait_for(b"fault injected")
        tenants = [f"pw-t{i}" for i in range(8)]
        assert {partition_of(t) for t in tenants} == {0, 1, 2, 3}
        events = [(t.encode(), orjson.dumps({"tenant": t, "request_id": f"pw-{i}", "entity": "e",
                                             "ts": time.time(), "features": {"x": float(i)}}))
                  for i, t in enumerate(tenants * 5)]
        asyncio.run(produce(kafka, f"{env}.events", events))
        outcome = verify(kafka, env, [f"pw-{i}" for i in range(len(events))], timeout=300)
        assert (outcome["lost"], outcome["duplicates"]) == (0, 0)
        metrics = serving.metrics_text()
        assert dict(STALLS.findall(metrics)) == {f"{env}.events": "2.0"}
        assert dict(HOLES.findall(metrics)) == {f"{env}.events": "1.0"}
        log = serving.log_path.read_bytes()
        # pw-t7's five events wait on partition 0, pw-t1's and pw-t4's ten on partition 1;
        # the first of pw-t2's five on partition 2 is skipped, the other four answered meanwhile.
        assert b"events/0 stalled: end 5, committed 0, fetch position 0, paused True" in log
        assert b"events/1 stalled: end 10, committed 0, fetch position 10, paused False" in log
        assert b"events/2: commit held at 0, records from 1 on processed; re-reading from 0" \
            in log
    finally:
        for w in (serving, pool):
            w.stop()
