"""The benchmark's stream: the same tenants, entities, state and labelled events for every system.

Events are plain dicts in the README's Event JSON; ``ts`` is set by the driver at send time,
so that a result's latency is measured from the moment its request was produced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson

N_FEATURES = 6


@dataclass(frozen=True)
class Workload:
    """``tenants`` tenants with ``entities`` entities each; labels follow a per-tenant linear
    concept, so that every model has something real to learn."""

    tenants: int
    entities: int = 20
    seed: int = 7
    prefix: str = "t"

    def tenant(self, i: int) -> str:
        return f"{self.prefix}{i:05d}"

    def tenant_names(self) -> list[str]:
        return [self.tenant(i) for i in range(self.tenants)]

    def _weights(self, t: int) -> list[float]:
        rng = random.Random(self.seed * 1_000_003 + t)
        return [rng.uniform(-1, 1) for _ in range(N_FEATURES)]

    def state_updates(self) -> list[tuple[bytes, bytes]]:
        """One state update per entity (key = tenant), produced before any event."""
        rng = random.Random(self.seed)
        out = []
        for t in range(self.tenants):
            name = self.tenant(t)
            for e in range(self.entities):
                body = {"tenant": name, "entity": f"e{e}", "version": 1, "ts": 1.0,
                        "values": {"limit": round(rng.uniform(0, 1000), 2),
                                   "risk": round(rng.uniform(0, 1), 4)}}
                out.append((name.encode(), orjson.dumps(body)))
        return out

    def events(self, n: int, tag: str, start: int = 0, every_tenant_first: bool = False) -> list[dict]:
        """``n`` labelled events with request ids ``<tag>-<i>``.

        Tenants are drawn uniformly (round robin when ``every_tenant_first``, so that a warm-up
        touches every tenant once)."""
        rng = random.Random(f"{self.seed}-{tag}-{start}")
        weights: dict[int, list[float]] = {}
        out = []
        for i in range(start, start + n):
            t = i % self.tenants if every_tenant_first else rng.randrange(self.tenants)
            w = weights.get(t)
            if w is None:
                w = weights[t] = self._weights(t)
            x = [rng.uniform(-1, 1) for _ in range(N_FEATURES)]
            score = sum(a * b for a, b in zip(w, x)) + rng.gauss(0, 0.1)
            out.append({"tenant": self.tenant(t), "request_id": f"{tag}-{i}",
                        "entity": f"e{rng.randrange(self.entities)}", "ts": 0.0,
                        "features": {f"f{k}": round(v, 5) for k, v in enumerate(x)},
                        "label": score > 0})
        return out
