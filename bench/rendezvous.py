"""Rendezvous under test: real ``faust -A app worker`` processes (harness.FaustWorker) per role."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from pathlib import Path

import orjson

from app.settings import Settings
from app.topics import declare_topics
from harness.workers import FaustWorker

REPO = Path(__file__).resolve().parent.parent

#: The bench's own deadline: long, so a result is the champion's answer and its latency is the
#: pipeline's, not a timer's (the policy's fallbacks are measured by the integration tests).
DEADLINE_MS = 60_000.0


def one_model_deployment() -> dict:
    """The core job: a single logreg champion in the fast pool."""
    return {"task": "classification", "version": 1,
            "models": [{"name": "logreg", "spec": "logreg", "params": {}, "role": "champion",
                        "pool": "fast", "version": 1}],
            "policy": {"deadline_ms": DEADLINE_MS, "fallback": [], "ab_model": None,
                       "ab_split": 0.0, "default_output": None}}


def three_models_one_pool() -> dict:
    """The default deployment's three models, all in one pool worker (the scale runs)."""
    return {"task": "classification", "version": 1,
            "models": [{"name": "logreg", "spec": "logreg", "params": {}, "role": "champion",
                        "pool": "fast", "version": 1},
                       {"name": "hoeffding", "spec": "hoeffding", "params": {"grace_period": 50},
                        "role": "challenger", "pool": "fast", "version": 1},
                       {"name": "baseline", "spec": "baseline", "params": {}, "role": "canary",
                        "pool": "fast", "version": 1}],
            "policy": {"deadline_ms": DEADLINE_MS, "fallback": ["logreg", "hoeffding", "baseline"],
                       "ab_model": None, "ab_split": 0.0, "default_output": None}}


class WorkerSet:
    """The serving worker and the given pools of one environment, started and stopped together."""

    def __init__(self, bootstrap: str, env: str, pools: list[str], log_dir: Path, ports,
                 deployment: dict | None = None, partitions: int = 4) -> None:
        self.bootstrap, self.env, self.partitions = bootstrap, env, partitions
        common = {"broker": f"kafka://{bootstrap}", "env": env, "partitions": partitions,
                  "deadline_ms": DEADLINE_MS,
                  "data_dir": str(REPO / "var" / f"bench-data-{bootstrap.rsplit(':', 1)[-1]}")}
        if deployment is not None:
            common["default_deployment"] = orjson.dumps(deployment).decode()
        self.workers = {role: FaustWorker({**common, "role": role, "web_port": next(ports)},
                                          log_dir, name=f"{env}-{role}")
                        for role in ["serving", *pools]}

    @property
    def pools(self) -> list[FaustWorker]:
        return [w for role, w in self.workers.items() if role != "serving"]

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers.values() if w.proc is not None]

    def start(self, timeout: float = 180.0) -> float:
        began = time.monotonic()
        asyncio.run(declare_topics(Settings(broker=f"kafka://{self.bootstrap}", env=self.env,
                                            partitions=self.partitions)))
        for w in self.workers.values():
            w.start()
        for w in self.workers.values():
            w.wait_ready(timeout)
        return time.monotonic() - began

    def learned(self) -> list[int]:
        """Training records each pool has learned so far (its /stats/ ledger)."""
        return [int(w.stats()["counts"].get("learned", 0)) for w in self.pools]

    def scores_received(self) -> int:
        """Scores the serving worker's rendezvous has consumed so far (its Prometheus counter)."""
        total = 0.0
        for line in self.workers["serving"].metrics_text().splitlines():
            if line.startswith("rendezvous_scores_received_total"):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def wait_done(self, learned: list[int], scores: int, timeout: float = 300.0) -> float:
        """Block until every pool has learned up to its target and the serving worker has
        consumed every score (late ones included); return the wall time it happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(n >= t for n, t in zip(self.learned(), learned)) and \
                    self.scores_received() >= scores:
                return time.time()
            time.sleep(0.1)
        raise TimeoutError(f"pools learned {self.learned()} of {learned}, serving received "
                           f"{self.scores_received()} of {scores} scores")

    def stop(self) -> None:
        running = [w for w in self.workers.values() if w.proc is not None and w.proc.poll() is None]
        for w in running:
            w.proc.send_signal(signal.SIGTERM)
        for w in running:
            w.stop(timeout=30)


class Progress:
    """What a worker set must have done once every event sent so far is fully processed."""

    def __init__(self, ws: WorkerSet, models_per_event: int) -> None:
        self.ws, self.models_per_event = ws, models_per_event
        self.events = 0

    def add(self, n: int) -> None:
        self.events += n

    def wait(self, timeout: float = 300.0) -> float:
        return self.ws.wait_done([self.events] * len(self.ws.pools),
                                 self.events * self.models_per_event, timeout)


def port_counter(base: int):
    return itertools.count(base)
