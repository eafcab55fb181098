"""Exact per-tenant counts of one worker, served as JSON on /stats/ for operators and tests.

Prometheus keeps tenant labels out (cardinality); these counts are the exact ledger.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

#: Served-accuracy sparkline: one point per SERIES_BUCKET labelled results, the last
#: SERIES_POINTS points per tenant.
SERIES_BUCKET = 10
SERIES_POINTS = 120
#: Ring buffers for the ops page and read endpoints: per tenant, and across tenants.
RECENT_PER_TENANT = 10
EVENTS_PER_TENANT = 50
RECENT_GLOBAL = 500


@dataclass
class ServedAccuracy:
    n: int = 0
    correct: int = 0
    by_model: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    # (time, accuracy of the bucket, labelled results so far): the sparkline.
    series: deque = field(default_factory=lambda: deque(maxlen=SERIES_POINTS))
    _bucket: list = field(default_factory=lambda: [0, 0])

    def record(self, model: str | None, correct: bool) -> None:
        self.n += 1
        self.correct += correct
        tally = self.by_model[model or "default"]
        tally[0] += 1
        tally[1] += correct
        self._bucket[0] += 1
        self._bucket[1] += correct
        if self._bucket[0] >= SERIES_BUCKET:
            self.series.append((time.time(), self._bucket[1] / self._bucket[0], self.n))
            self._bucket = [0, 0]

    def snapshot(self) -> dict:
        return {
            "n": self.n, "correct": self.correct,
            "accuracy": self.correct / self.n if self.n else None,
            "by_model": {m: {"n": n, "correct": c} for m, (n, c) in self.by_model.items()},
        }


@dataclass
class Stats:
    counts: Counter = field(default_factory=Counter)
    tenants: dict = field(default_factory=lambda: defaultdict(Counter))
    served: dict = field(default_factory=lambda: defaultdict(ServedAccuracy))
    models: dict = field(default_factory=dict)  # set by pools: tenant -> model -> metrics
    # Serving only, for the ops page and the read endpoints (bounded ring buffers):
    decisions: dict = field(default_factory=lambda: defaultdict(
        lambda: deque(maxlen=RECENT_PER_TENANT)))
    recent_decisions: deque = field(default_factory=lambda: deque(maxlen=RECENT_GLOBAL))
    events: dict = field(default_factory=lambda: defaultdict(
        lambda: deque(maxlen=EVENTS_PER_TENANT)))
    recent_events: deque = field(default_factory=lambda: deque(maxlen=RECENT_GLOBAL))
    drift: dict = field(default_factory=lambda: defaultdict(
        lambda: deque(maxlen=EVENTS_PER_TENANT)))
    recent_drift: deque = field(default_factory=lambda: deque(maxlen=RECENT_GLOBAL))
    # tenant -> (model, version) -> [scores, error scores], as seen by the rendezvous
    scored: dict = field(default_factory=lambda: defaultdict(dict))

    def decision(self, tenant: str, decision: dict) -> None:
        """A result, as the ops page lists it."""
        self.decisions[tenant].append(decision)
        self.recent_decisions.append(decision)

    def event(self, tenant: str, kind: str, **details) -> dict:
        """An operations event: a control command applied or rejected, a rollback..."""
        event = {"at": time.time(), "tenant": tenant, "kind": kind, **details}
        self.events[tenant].append(event)
        self.recent_events.append(event)
        return event

    def drift_event(self, tenant: str, drift: dict) -> None:
        self.drift[tenant].append(drift)
        self.recent_drift.append(drift)

    def score_seen(self, tenant: str, model: str, version: int, error: bool) -> tuple[int, int]:
        tally = self.scored[tenant].setdefault((model, version), [0, 0])
        tally[0] += 1
        tally[1] += bool(error)
        return tally[0], tally[1]

    def count(self, what: str, tenant: str | None = None, n: int = 1) -> None:
        self.counts[what] += n
        if tenant is not None:
            self.tenants[tenant][what] += n

    def snapshot(self) -> dict:
        return {
            "counts": dict(self.counts),
            "tenants": {t: dict(c) for t, c in self.tenants.items()},
            "served": {t: s.snapshot() for t, s in self.served.items()},
            "models": self.models,
        }
