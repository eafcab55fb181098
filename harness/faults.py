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

from .kafka_io import produce, read_all, read_topic
from .workers import FaustWorker

# An agent that raised (Faust restarts it, but the record it was on is lost), or a worker
# that stopped on an error.
CRASH = re.compile(rb"Crashed reason=|\[\^Worker\]: Error:")


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


def probe_resume(bootstrap: str, env: str, since: float, tag: str, timeout: float = 120.0) -> float:
    """Seconds from ``since`` until a fresh request sent now gets its result."""
    body = {"tenant": "probe", "request_id": tag, "entity": "p", "ts": time.time(),
            "features": {"x": 1.0}}
    asyncio.run(produce(bootstrap, f"{env}.events", [(b"probe", orjson.dumps(body))]))
    asyncio.run(read_topic(bootstrap, f"{env}.results",
                           lambda rs: any(r["request_id"] == tag for r in rs), timeout=timeout))
    return time.monotonic() - since


def broker_pause(cluster: Cluster, seconds: float, tag: str) -> float:
    """SIGSTOP the broker, SIGCONT after ``seconds``; return the workers' resume time."""
    cluster.kafka.signal(signal.SIGSTOP)
    time.sleep(seconds)
    cluster.kafka.signal(signal.SIGCONT)
    return probe_resume(cluster.bootstrap, cluster.env, time.monotonic(), tag)


def broker_restart(cluster: Cluster, tag: str) -> float:
    """kill -9 the broker, restart it on the same data directory; return the resume time."""
    cluster.kafka.signal(signal.SIGKILL)
    cluster.kafka.start()
    return probe_resume(cluster.bootstrap, cluster.env, time.monotonic(), tag)


def crash_loop(cluster: Cluster, roles: list[str], rounds: int, interval: float) -> None:
    """kill -9 one worker per round (rotating over ``roles``) and restart it at once."""
    for n in range(rounds):
        time.sleep(interval)
        role = roles[n % len(roles)]
        cluster.kill9(role)
        cluster.restart(role)
