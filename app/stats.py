"""Exact per-tenant counts of one worker, served as JSON on /stats/ for operators and tests.

Prometheus keeps tenant labels out (cardinality); these counts are the exact ledger.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class ServedAccuracy:
    n: int = 0
    correct: int = 0
    by_model: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def record(self, model: str | None, correct: bool) -> None:
        self.n += 1
        self.correct += correct
        tally = self.by_model[model or "default"]
        tally[0] += 1
        tally[1] += correct

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
