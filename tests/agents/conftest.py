"""Agent-tier fixtures: real apps from ``create_app``, agents run through ``test_context()``.

No broker: every topic's ``send`` is replaced by a recorder (``Wire``), so a test sees the
exact (key, value, headers) bytes each agent sends, in order, across topics. Tables are the
real Faust tables on the memory store; their changelog writes only reach the (never
started) producer's buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any
from unittest import mock

import orjson
import pytest

from app.factory import create_app
from app.settings import Settings
from learning.deployment import default_deployment
from schemas import DeadLetter, Enriched, Limits, decode, encode
from tests import drills

drills.register()  # deployments of these tests may name "sleepy" or "failing"
LIMITS = Limits()
TENANT = "acme"
KEY = TENANT.encode()


@dataclass(frozen=True)
class Sent:
    topic: str  # base name: "enriched", "dead-letter", ... or "<learn>" for the learn spy
    key: bytes | None
    value: bytes | None
    headers: Any = None


class Wire:
    """Records every ``Topic.send`` of one app, in order, by topic base name."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.log: list[Sent] = []
        self._stack = contextlib.ExitStack()
        prefix = f"{rt.settings.env}."
        for topic in rt.topics.all():
            base = topic.get_topic_name()[len(prefix):]
            self._stack.enter_context(
                mock.patch.object(topic, "send", new=self._recorder(base)))

    def _recorder(self, base: str):
        async def send(*, key=None, value=None, headers=None, **kwargs):
            self.log.append(Sent(base, key, value, headers))

        return send

    def close(self) -> None:
        self._stack.close()

    def of(self, topic: str) -> list[Sent]:
        return [s for s in self.log if s.topic == topic]

    def records(self, topic: str, kind=None) -> list:
        return [decode(kind or topic, s.value, LIMITS) for s in self.of(topic)]

    def dead_letters(self) -> list[DeadLetter]:
        return self.records("dead-letter", DeadLetter)

    def topics(self) -> list[str]:
        return [s.topic for s in self.log]

    def clear(self) -> None:
        self.log.clear()


class Harness:
    """One app of one role, its runtime, its wire, and its agents under ``test_context``."""

    def __init__(self, app) -> None:
        self.app = app
        self.rt = app.rendezvous
        self.wire = Wire(self.rt)
        self._contexts: dict[str, Any] = {}
        self._stack = contextlib.AsyncExitStack()

    async def agent(self, name: str):
        """The started test wrapper of agent ``name`` (started once per test)."""
        if name not in self._contexts:
            self._contexts[name] = await self._stack.enter_async_context(
                self.app.agents[name].test_context())
        return self._contexts[name]

    async def put(self, agent: str, value: bytes | None, key: bytes | None = KEY,
                  partition: int = 0, timeout: float = 5.0):
        """Feed one message to ``agent`` and wait until the agent has finished with it.

        ``put(wait=True)`` returns as soon as the agent's stream took the value; the
        message is acked only when the agent asks for the next one, i.e. when it is done.
        """
        tc = await self.agent(agent)
        event = await tc.put(key=key, value=value, partition=partition)
        deadline = time.monotonic() + timeout
        while not event.message.acked:
            if tc._crash_reason is not None:
                raise tc._crash_reason
            if time.monotonic() > deadline:
                raise TimeoutError(f"{agent} did not finish with {value!r}")
            await asyncio.sleep(0)
        if tc._crash_reason is not None:
            raise tc._crash_reason
        return event

    async def aclose(self) -> None:
        try:
            await self._stack.aclose()
        finally:
            self.wire.close()


@pytest.fixture
def make_harness(tmp_path):
    """``await make_harness(role="fast", **settings)``: a started harness, closed after the test."""
    made: list[Harness] = []

    async def make(**settings) -> Harness:
        settings.setdefault("data_dir", str(tmp_path / "data"))
        app = create_app(Settings(**settings))
        app.conf.store = "memory://"
        app.finalize()
        h = Harness(app)
        made.append(h)
        return h

    yield make
    # Async teardown happens in the async fixtures below; this guards forgotten wires.
    for h in made:
        h.wire.close()


@pytest.fixture
async def serving(make_harness):
    h = await make_harness()
    yield h
    await h.aclose()


@pytest.fixture
async def fast_pool(make_harness):
    h = await make_harness(role="fast")
    yield h
    await h.aclose()


# --- records --------------------------------------------------------------------------------

def event_bytes(request_id: str = "r1", *, tenant: str = TENANT, entity: str = "u1",
                ts: float | None = None, features: dict | None = None, **extra) -> bytes:
    obj = {"tenant": tenant, "request_id": request_id, "entity": entity,
           "ts": time.time() if ts is None else ts,
           "features": {"a": 1.0} if features is None else features, **extra}
    return orjson.dumps(obj)


def state_update_bytes(entity: str = "u1", *, tenant: str = TENANT, version: int = 1,
                       ts: float = 100.0, values: dict | None = None,
                       scope: str = "entity") -> bytes:
    return orjson.dumps({"tenant": tenant, "entity": entity, "version": version, "ts": ts,
                         "values": {"balance": 10.0} if values is None else values,
                         "scope": scope})


def label_bytes(request_id: str = "r1", label: Any = True, *, tenant: str = TENANT,
                ts: float = 2000.0) -> bytes:
    return orjson.dumps({"tenant": tenant, "request_id": request_id, "label": label, "ts": ts})


def score_bytes(request_id: str = "r1", model: str = "logreg", *, role: str = "champion",
                output: Any = True, error: str | None = None, tenant: str = TENANT,
                version: int = 1, pool: str = "fast") -> bytes:
    return orjson.dumps({"tenant": tenant, "request_id": request_id, "model": model,
                         "version": version, "role": role, "pool": pool, "latency_ms": 1.0,
                         "scored_at": time.time(), "output": output, "proba": None,
                         "error": error})


def deployment_dict(*, deadline_ms: float = 60_000.0, shadow: bool = False) -> dict:
    """The default deployment, with a long deadline (scores are never late by accident)
    and optionally a shadow model in the fast pool."""
    d = default_deployment().to_dict()
    d["policy"]["deadline_ms"] = deadline_ms
    if shadow:
        d["models"].append({"name": "shadowy", "spec": "baseline", "params": {},
                            "role": "shadow", "pool": "fast", "version": 1})
    return d


def enriched_record(request_id: str = "r1", *, tenant: str = TENANT,
                    features: dict | None = None, deployment: dict | None = None) -> Enriched:
    return Enriched(
        tenant=tenant, request_id=request_id, entity="u1", ts=1000.0,
        features={"a": 1.0, "b": -2.0} if features is None else features,
        state={"balance": 3.0}, state_version=1,
        aggregates={"count": 0, "mean.a": 0.0, "mean.b": 0.0},
        context={}, context_version=-1,
        deployment=default_deployment().to_dict() if deployment is None else deployment,
        enriched_at=1000.5,
    )


__all__ = ["KEY", "LIMITS", "TENANT", "Harness", "Sent", "Wire", "deployment_dict",
           "encode", "enriched_record", "event_bytes", "label_bytes", "score_bytes",
           "state_update_bytes"]
