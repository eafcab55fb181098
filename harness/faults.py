"""Fault drills on a real broker and real workers, bounded in time, killing only what they start.

Shared by the short versions in tests/integration/test_faults.py and the long ones in
``make bench-faults`` (bench/faults.py). Anchors: Kafka Streams' system tests (kill -9 in
rounds, a verifier recomputes results from the input) and Jepsen (lost and duplicated
records counted separately).
"""

from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from app.settings import Settings
from app.topics import declare_topics
from localkafka import BrokerConfig, LocalKafka

from kafka_io import from_beginning, read_all, read_topic
from .workers import FaustWorker

# An agent that raised (Faust restarts it, but the record it was on is lost), or a worker
# that stopped on an error.
CRASH = re.compile(rb"Crashed reason=|\[\^Worker\]: Error:")
PROBE_EVERY_S = 0.5


class Cluster:
    """A broker of its own and a set of workers (serving + pools) for one environment."""

    def __init__(self, root: Path, port: int, env: str, roles=("serving", "fast"),
                 web_port_base: int = 16800, settings: dict | None = None) -> None:
        self.root = Path(root)
        self.kafka = LocalKafka(BrokerConfig(port=port, data_dir=self.root / f"kafka-{port}"))
        self.env = env
        self.settings = settings or {}
        self.workers = {
            role: FaustWorker({"broker": f"kafka://{self.kafka.bootstrap}", "env": env,
                               "role": role, "web_port": web_port_base + i, "partitions": 4,
                               "data_dir": str(self.root / "data"), **self.settings},
                              self.root / "logs", name=f"{env}-{role}")
            for i, role in enumerate(roles)}

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    def start(self) -> "Cluster":
        self.kafka.wipe()
        self.kafka.start()
        asyncio.run(declare_topics(Settings(broker=f"kafka://{self.bootstrap}", env=self.env,
                                            partitions=4)))
        for w in self.workers.values():
            w.start()
        for w in self.workers.values():
            w.wait_ready()
        return self

    def kill9(self, role: str) -> None:
        self.workers[role].kill()

    def restart(self, role: str) -> float:
        worker = self.workers[role]
        worker.start()
        return worker.wait_ready()

    def crashes(self) -> int:
        """Workers that died on their own (not stopped by us: 0, not killed by us: -9), plus
        agent crashes in the logs."""
        died = sum(w.proc is not None and w.proc.poll() not in (None, 0, -9)
                   for w in self.workers.values())
        logged = sum(len(CRASH.findall(w.log_path.read_bytes()))
                     for w in self.workers.values() if w.log_path.exists())
        return died + logged

    def stop(self) -> None:
        for w in self.workers.values():
            w.stop()
        self.kafka.wipe()


class Load:
    """Steady multi-tenant events with inline labels, from a thread, until stopped."""

    def __init__(self, bootstrap: str, env: str, rate: float, tenants: int = 10,
                 prefix: str = "ld") -> None:
        self.bootstrap, self.topic, self.rate = bootstrap, f"{env}.events", rate
        self.tenants, self.prefix = tenants, prefix
        self.sent: list[str] = []
        self.labels: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> "Load":
        self._thread.start()
        return self

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(timeout=120)
        return self.sent

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                    request_timeout_ms=120_000, linger_ms=2)
        await producer.start()
        try:
            i, began = 0, time.monotonic()
            while not self._stop.is_set():
                tenant = f"{self.prefix}-t{i % self.tenants}"
                x = ((i * 7919) % 1000) / 500.0 - 1.0
                rid = f"{self.prefix}-{i}"
                body = {"tenant": tenant, "request_id": rid, "entity": f"e{i % 13}",
                        "ts": time.time(), "features": {"x": x, "y": ((i * 31) % 17) / 17.0},
                        "label": x > 0}
                await producer.send_and_wait(self.topic, orjson.dumps(body), key=tenant.encode())
                self.sent.append(rid)
                self.labels[tenant] += 1
                i += 1
                ahead = i / self.rate - (time.monotonic() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        finally:
            await producer.stop()


def verify(bootstrap: str, env: str, request_ids: list[str], timeout: float = 120.0) -> dict:
    """Recompute from the input: which requests lost their result, which got more than one."""
    wanted = set(request_ids)
    asyncio.run(read_topic(bootstrap, f"{env}.results",
                           lambda rs: wanted <= {r["request_id"] for r in rs}, timeout=timeout))
    results = [r for r in asyncio.run(read_all(bootstrap, f"{env}.results", quiet_s=2.0))
               if r["request_id"] in wanted]
    counts = Counter(r["request_id"] for r in results)
    return {"requests": len(wanted), "results": len(results),
            "lost": len(wanted - counts.keys()),
            "duplicates": sum(n - 1 for n in counts.values()),
            "reasons": dict(Counter(r["reason"] for r in results))}


async def _probe_until_champion(bootstrap: str, env: str, since: float, tag: str,
                               timeout: float) -> dict:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=60_000)
    await producer.start()
    first = None
    try:
        async with from_beginning(bootstrap, f"{env}.results", timeout) as results:
            n, next_probe, stop_at = 0, 0.0, time.monotonic() + timeout
            while time.monotonic() < stop_at:
                if time.monotonic() >= next_probe:
                    body = {"tenant": "probe", "request_id": f"{tag}-{n}", "entity": "p",
                            "ts": time.time(), "features": {"x": 1.0}}
                    await producer.send(f"{env}.events", orjson.dumps(body), key=b"probe")
                    n, next_probe = n + 1, time.monotonic() + PROBE_EVERY_S
                batch = await results.getmany(timeout_ms=100)
                for r in (orjson.loads(m.value) for ms in batch.values() for m in ms):
                    if not r["request_id"].startswith(f"{tag}-"):
                        continue
                    first = first if first is not None else r["decided_at"] - since
                    if r["reason"] == "champion":
                        return {"first_answer_s": round(first, 2),
                                "champion_s": round(r["decided_at"] - since, 2), "probes": n}
    finally:
        await producer.stop()
    raise TimeoutError(f"no probe answered by its champion within {timeout}s of {tag}")


def probe_resume(bootstrap: str, env: str, since: float, tag: str, timeout: float = 180.0) -> dict:
    """Seconds from ``since`` (wall clock) until the pipeline answers again: the first probe
    answered at all (``first_answer_s``: the serving worker is back, perhaps only with a default
    at the deadline) and the first answered by its champion (``champion_s``: scoring is back).
    A probe goes out every PROBE_EVERY_S, so a probe stuck in an outage does not hide a
    recovery that happened after it was sent."""
    return asyncio.run(_probe_until_champion(bootstrap, env, since, tag, timeout))


def broker_pause(cluster: Cluster, seconds: float, tag: str) -> dict:
    """SIGSTOP the broker, SIGCONT after ``seconds``; return the workers' resume times."""
    cluster.kafka.signal(signal.SIGSTOP)
    time.sleep(seconds)
    cluster.kafka.signal(signal.SIGCONT)
    return probe_resume(cluster.bootstrap, cluster.env, time.time(), tag)


def broker_restart(cluster: Cluster, tag: str) -> dict:
    """kill -9 the broker, restart it on the same data directory (``start`` returns once it
    accepts connections); return the workers' resume times, from then."""
    cluster.kafka.signal(signal.SIGKILL)
    cluster.kafka.start()
    return probe_resume(cluster.bootstrap, cluster.env, time.time(), tag)


def crash_loop(cluster: Cluster, roles: list[str], rounds: int, interval: float) -> None:
    """kill -9 one worker per round (rotating over ``roles``) and restart it at once."""
    for n in range(rounds):
        time.sleep(interval)
        role = roles[n % len(roles)]
        cluster.kill9(role)
        cluster.restart(role)


def trained_counts(cluster: Cluster) -> dict:
    """tenant -> model -> records learnt (predictions made on training records), over the pools."""
    out: dict = {}
    for role, worker in cluster.workers.items():
        if role == "serving":
            continue
        for tenant, models in worker.stats()["models"].items():
            for name, m in models.items():
                out.setdefault(tenant, {})[name] = m.get("predictions", m.get("n"))
    return out


def label_mismatches(cluster: Cluster, labels: dict, timeout: float = 180.0) -> dict:
    """Tenants whose models did not learn exactly the labels produced for them, once the pools
    have caught up (or ``timeout`` passed): tenant -> {labels, trained per model}."""
    deadline = time.monotonic() + timeout
    while True:
        counts = trained_counts(cluster)
        wrong = {t: {"labels": n, "trained": counts.get(t, {})} for t, n in labels.items()
                 if not counts.get(t) or any(k != n for k in counts[t].values())}
        if not wrong or time.monotonic() > deadline:
            return wrong
        time.sleep(1.0)
