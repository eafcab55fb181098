"""The real broker (started once per session by the project) and real faust worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
from pathlib import Path

import orjson
import pytest

from harness.workers import FaustWorker

# Scenarios deploy the drill models ("sleepy", "failing"), which only tests register.
DRILL_APP = "tests.integration.drill_app"
from localkafka import BrokerConfig, LocalKafka

REPO = Path(__file__).resolve().parents[2]
KAFKA_PORT = int(os.environ.get("TEST_KAFKA_PORT", "19192"))
LOGS = REPO / "var" / f"test-logs-{KAFKA_PORT}"
_ports = itertools.count(int(os.environ.get("TEST_WEB_PORT_BASE", "16100")))
_envs = itertools.count(1)


@pytest.fixture(scope="session")
def kafka() -> str:
    """Bootstrap address: KAFKA_BOOTSTRAP if set, else a fresh broker of our own, always stopped."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield os.environ["KAFKA_BOOTSTRAP"]
        return
    broker = LocalKafka(BrokerConfig(port=KAFKA_PORT,
                                     data_dir=REPO / "var" / f"kafka-test-{KAFKA_PORT}"))
    broker.wipe()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.wipe()


@pytest.fixture(scope="session")
def log_dir() -> Path:
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True)
    return LOGS


def fresh_env() -> str:
    """A new environment name: its own topics and consumer groups, so tests never interfere."""
    return f"t{os.getpid() % 10000}x{next(_envs)}"


def worker_settings(kafka: str, env: str, role: str, **extra) -> dict:
    return {"broker": f"kafka://{kafka}", "env": env, "role": role, "web_port": next(_ports),
            "partitions": 4, "data_dir": str(REPO / "var" / f"test-data-{KAFKA_PORT}"), **extra}


@contextlib.contextmanager
def running_workers(kafka: str, log_dir: Path, roles, deployments: dict | None = None,
                    tmp: Path | None = None, **common):
    """A fresh environment with its topics and ready workers of ``roles`` (all stopped after);
    ``deployments`` (tenant -> deployment) are written to a file the workers read."""
    from app.settings import Settings
    from app.topics import declare_topics

    env = fresh_env()
    if deployments is not None:
        path = tmp / f"{env}-deployments.json"
        path.write_bytes(orjson.dumps(deployments))
        common["deployments_file"] = str(path)
    asyncio.run(declare_topics(Settings(broker=f"kafka://{kafka}", env=env, partitions=4)))
    workers = {role: FaustWorker(worker_settings(kafka, env, role, **common), log_dir,
                                 app_module=DRILL_APP)
               for role in roles}
    try:
        for w in workers.values():
            w.start()
        for w in workers.values():
            w.wait_ready()
        yield env, workers
    finally:
        for w in workers.values():
            w.stop()


@pytest.fixture
def start_workers(kafka, log_dir):
    """start_workers(env, [(role, extra settings), ...]) -> ready workers, stopped at teardown."""
    started: list[FaustWorker] = []

    def start(env: str, roles, **common) -> list[FaustWorker]:
        from app.settings import Settings
        from app.topics import declare_topics

        asyncio.run(declare_topics(Settings(broker=f"kafka://{kafka}", env=env, partitions=4)))
        workers = [FaustWorker(worker_settings(kafka, env, role, **{**common, **extra}), log_dir,
                               app_module=DRILL_APP)
                   for role, extra in roles]
        for w in workers:
            started.append(w.start())
        for w in workers:
            w.wait_ready()
        return workers

    yield start
    for w in started:
        w.stop()
