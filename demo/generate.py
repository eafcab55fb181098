"""The demo's stream: many tenants, each with its own concept that changes abruptly midway.

Pure and seeded, no Kafka: the same arguments give the same records, byte for byte. It is
kept apart from the command that sends it (``python -m demo``), as in Faust's
``examples/withdrawals.py``, so it can be tested, replayed or sent by anything else.

What it produces, in time order, as ``(topic_base, key, value)``:

- ``events``: ``{tenant, request_id, entity, ts, features: {name: float}, label?}``, keyed by
  tenant. Each tenant draws its examples from a `river.datasets.synth` concept (Agrawal with
  its own classification function, or a SEA variant); at ``change_at`` (a fraction of the
  run) the concept switches abruptly to another function or variant. Categorical ints become
  floats, labels are booleans.
- ``labels``: for the tenants with delayed labels, a `LabelRecord` a little after its event
  (``label_delay_s``); the other tenants carry the label inline in the event.
- ``state-updates``: now and then a `StateUpdate` for one entity of one tenant, with a
  version that increases with time (epoch milliseconds, so a later run supersedes an
  earlier one), and every ``context_every_s`` one global context update
  (``scope="global"``, ``tenant="*"``, ``entity="market"``).

Examples
--------
>>> stream = DemoStream(seconds=2.0, rate=50.0, tenants=4, entities=5, start_ts=1e9)
>>> records = list(stream)
>>> sorted({topic for topic, _, _ in records})
['events', 'labels', 'state-updates']
>>> list(stream) == records
True
>>> topic, key, value = next(r for r in records if r[0] == "events")
>>> key
b'tenant-02'
>>> import orjson
>>> sorted(orjson.loads(value))
['entity', 'features', 'request_id', 'tenant', 'ts']
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass
from typing import Iterator, NamedTuple

import orjson
from river.datasets import synth

__all__ = ["TenantSpec", "Timed", "DemoStream", "tenant_specs", "GLOBAL_CONTEXT"]

#: The key of the one global context entry.
GLOBAL_CONTEXT = "market"
FAMILIES = ("agrawal", "sea")


@dataclass(frozen=True)
class TenantSpec:
    """One tenant: its concept before and after the change, and how its labels arrive.

    ``before`` and ``after`` are Agrawal classification functions (0-9) or SEA variants
    (0-3), depending on ``family``.
    """

    name: str
    family: str
    before: int
    after: int
    labels: str  # "inline" or "delayed"
    seed: int

    def concept(self, changed: bool) -> str:
        return f"{self.family}:{self.after if changed else self.before}"

    def source(self, changed: bool):
        """An endless iterator of (x, y) from the concept, seeded per tenant and phase."""
        function = self.after if changed else self.before
        seed = self.seed * 2 + int(changed)
        if self.family == "agrawal":
            return iter(synth.Agrawal(classification_function=function, seed=seed))
        return iter(synth.SEA(variant=function, seed=seed, noise=0.0))


def tenant_specs(n: int = 20, seed: int = 7) -> list[TenantSpec]:
    """``n`` tenants: alternately Agrawal and SEA, labels inline for the first half of each
    family and delayed for the other, each with a concept change to a different function.

    >>> [(t.name, t.concept(False), t.concept(True), t.labels) for t in tenant_specs(4, 1)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('tenant-00', 'agrawal:2', 'agrawal:4', 'inline'),
     ('tenant-01', 'sea:2', 'sea:0', 'inline'),
     ('tenant-02', 'agrawal:1', 'agrawal:9', 'delayed'),
     ('tenant-03', 'sea:3', 'sea:1', 'delayed')]
    """
    rng = random.Random(seed)
    specs = []
    for i in range(n):
        family = FAMILIES[i % 2]
        if family == "agrawal":
            before = rng.randrange(10)
            after = (before + rng.randrange(1, 10)) % 10
        else:
            before = rng.randrange(4)
            after = (before + 2) % 4
        labels = "inline" if (i // 2) % 2 == 0 else "delayed"
        specs.append(TenantSpec(f"tenant-{i:02d}", family, before, after, labels,
                                seed * 1000 + i))
    return specs


class Timed(NamedTuple):
    """A record with the time it is due to be sent (epoch seconds)."""

    ts: float
    topic: str
    key: bytes
    value: bytes


def _features(x: dict) -> dict[str, float]:
    """Floats under string names: SEA's integer keys become x0, x1, ...; categorical ints
    (Agrawal's elevel, car, zipcode) become floats."""
    return {(k if isinstance(k, str) else f"x{k}"): float(v) for k, v in x.items()}


def _dumps(obj: dict) -> bytes:
    return orjson.dumps(obj)


class DemoStream:
    """The demo's records, seeded and in time order.

    Parameters
    ----------
    seconds, rate
        Events are spaced ``1 / rate`` apart over ``seconds``; delayed labels due after the
        end still follow.
    tenants, entities
        Tenant count and entities per tenant.
    start_ts
        Time of the first event (epoch seconds): the sender paces records to this clock.
    run_id
        Prefix of every request id, so that runs against the same topics never collide.
    change_at
        Fraction of the run at which every tenant's concept changes.
    label_delay_s
        (min, max) delay of a delayed label after its event.
    state_update_prob
        Chance, per event, of one entity state update (for a random entity of that tenant).
    context_every_s
        Period of the global context updates.
    tenant_skew
        Zipf-like exponent of tenant traffic; 0 gives every tenant the same share.
    """

    def __init__(self, *, seed: int = 7, seconds: float = 60.0, rate: float = 200.0,
                 tenants: int = 20, entities: int = 50, start_ts: float = 1_700_000_000.0,
                 run_id: str = "run", change_at: float = 0.5,
                 label_delay_s: tuple[float, float] = (0.5, 2.0),
                 state_update_prob: float = 0.05, context_every_s: float = 5.0,
                 tenant_skew: float = 0.5) -> None:
        if rate <= 0 or seconds < 0:
            raise ValueError("rate must be > 0 and seconds >= 0")
        if not 0 < label_delay_s[0] <= label_delay_s[1]:
            raise ValueError("label_delay_s must be (min, max) with 0 < min <= max")
        self.seed, self.seconds, self.rate = seed, seconds, rate
        self.entities, self.start_ts, self.run_id = entities, start_ts, run_id
        self.change_at, self.label_delay_s = change_at, label_delay_s
        self.state_update_prob, self.context_every_s = state_update_prob, context_every_s
        self.specs = tenant_specs(tenants, seed)
        self.weights = [1.0 / (i + 1) ** tenant_skew for i in range(tenants)]

    @property
    def n_events(self) -> int:
        return int(math.floor(self.seconds * self.rate))

    @property
    def change_ts(self) -> float:
        """When every tenant's concept changes."""
        return self.start_ts + self.seconds * self.change_at

    def __iter__(self) -> Iterator[tuple[str, bytes, bytes]]:
        for item in self.timed():
            yield item.topic, item.key, item.value

    def timed(self) -> Iterator[Timed]:
        """Every record with its due time, in time order (ties keep generation order)."""
        rng = random.Random(self.seed)
        sources = {t.name: (t.source(False), t.source(True)) for t in self.specs}
        counters = {t.name: itertools.count() for t in self.specs}
        later: list[tuple[float, int, Timed]] = []  # delayed labels, by due time
        seq = itertools.count()
        market = 100.0
        next_context = self.start_ts
        context_version = 0

        def due_before(ts: float) -> Iterator[Timed]:
            while later and later[0][0] <= ts:
                yield heapq.heappop(later)[2]

        for i in range(self.n_events):
            ts = self.start_ts + i / self.rate
            yield from due_before(ts)
            if self.context_every_s > 0 and ts >= next_context:
                market *= math.exp(rng.gauss(0.0, 0.02))
                context_version += 1
                yield Timed(ts, "state-updates", b"*", _dumps({
                    "tenant": "*", "entity": GLOBAL_CONTEXT, "scope": "global",
                    "version": int(round(ts * 1000)), "ts": ts,
                    "values": {"index": round(market, 4),
                               "volatility": round(abs(rng.gauss(0.2, 0.05)), 4)}}))
                next_context += self.context_every_s
            spec = rng.choices(self.specs, weights=self.weights)[0]
            key = spec.name.encode()
            entity = f"e{rng.randrange(self.entities):03d}"
            if rng.random() < self.state_update_prob:
                updated = f"e{rng.randrange(self.entities):03d}"
                yield Timed(ts, "state-updates", key, _dumps({
                    "tenant": spec.name, "entity": updated, "scope": "entity",
                    "version": int(round(ts * 1000)), "ts": ts,
                    "values": {"credit": round(rng.uniform(300, 850), 1),
                               "tenure": float(rng.randrange(0, 120)),
                               "risk": round(rng.random(), 4)}}))
            changed = ts >= self.change_ts
            x, y = next(sources[spec.name][int(changed)])
            request_id = f"{self.run_id}-{spec.name}-{next(counters[spec.name]):06d}"
            event = {"tenant": spec.name, "request_id": request_id, "entity": entity,
                     "ts": ts, "features": _features(x)}
            label = bool(y)
            if spec.labels == "inline":
                event["label"] = label
            else:
                due = ts + rng.uniform(*self.label_delay_s)
                heapq.heappush(later, (due, next(seq), Timed(due, "labels", key, _dumps({
                    "tenant": spec.name, "request_id": request_id, "label": label,
                    "ts": due}))))
            yield Timed(ts, "events", key, _dumps(event))
        yield from due_before(math.inf)
