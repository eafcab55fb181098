"""Enrichment on plain dicts: per-entity state, rolling aggregates, and the one flat input
every model sees. What these functions return is what the tables store, so it is JSON-safe."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

__all__ = ["EntityState", "merge_state", "RollingWindow", "model_input", "context_snapshot",
           "injected_state"]


def _number(v) -> float | int | None:
    """`v` as a model can use it, or None: finite numbers, bools as 0/1."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v):
        return v
    return None


@dataclass(frozen=True)
class EntityState:
    """External state of one entity, as last written by `state-updates`.

    Parameters
    ----------
    values
        Feature name to value.
    version
        The writer's version; a higher version wins whatever its timestamp.
    ts
        Update time, epoch seconds; breaks ties between equal versions.

    """

    values: dict[str, float]
    version: int
    ts: float

    def to_dict(self) -> dict:
        return {"values": dict(self.values), "version": self.version, "ts": self.ts}

    @classmethod
    def from_dict(cls, d: dict) -> EntityState:
        return cls(dict(d["values"]), d["version"], d["ts"])


def merge_state(
    current: EntityState | None, values: dict, version: int, ts: float
) -> tuple[EntityState, bool]:
    """Last write wins, ordered by (version, ts), so that redelivered or reordered updates
    converge to the same state.

    Returns the state to keep and whether it changed.

    Examples
    --------
    >>> s, changed = merge_state(None, {"balance": 10.0}, version=1, ts=5.0)
    >>> changed
    True
    >>> merge_state(s, {"balance": 99.0}, version=1, ts=4.0)
    (EntityState(values={'balance': 10.0}, version=1, ts=5.0), False)
    >>> merge_state(s, {"balance": 12.0}, version=2, ts=1.0)
    (EntityState(values={'balance': 12.0}, version=2, ts=1.0), True)

    """
    if current is not None and (version, ts) <= (current.version, current.ts):
        return current, False
    return EntityState(dict(values), version, ts), True


@dataclass(frozen=True)
class RollingWindow:
    """Rolling per-entity means over the last `window_s` seconds, in time buckets.

    The state holds at most `buckets` buckets of counts and sums, so its size is bounded
    whatever the event rate. The window moves a bucket at a time: it covers the current
    bucket and the `buckets - 1` before it, i.e. between `window_s * (1 - 1 / buckets)` and
    `window_s` seconds.

    Parameters
    ----------
    window_s
        Window length, seconds.
    buckets
        Number of buckets the window is cut into.

    Examples
    --------
    >>> w = RollingWindow(window_s=10.0, buckets=10)
    >>> state, agg = w.step(None, 100.0, {"amount": 5.0})
    >>> agg
    {'count': 0, 'mean.amount': 0.0}
    >>> state, agg = w.step(state, 101.0, {"amount": 7.0})
    >>> agg
    {'count': 1, 'mean.amount': 5.0}
    >>> state, agg = w.step(state, 112.0, {"amount": 1.0})
    >>> agg
    {'count': 0, 'mean.amount': 0.0}

    """

    window_s: float
    buckets: int = 10

    def __post_init__(self):
        if not self.window_s > 0:
            raise ValueError(f"window_s must be > 0, got {self.window_s!r}")
        if not isinstance(self.buckets, int) or self.buckets < 1:
            raise ValueError(f"buckets must be an int >= 1, got {self.buckets!r}")

    def step(self, state: dict | None, ts: float, features: dict) -> tuple[dict, dict]:
        """Fold one event in; returns the new state and the aggregates *before* the event,
        so that an event never sees itself.

        The state is `{"head": newest bucket index, "buckets": [[index, count, {feature:
        [sum, n]}], ...]}`. The window ends at the newest bucket seen, so a late event's
        aggregates are those known when it arrives; an event older than the window leaves
        the state unchanged.

        """
        width = self.window_s / self.buckets
        index = math.floor(ts / width)
        old_head = state["head"] if state else None
        head = index if old_head is None else max(old_head, index)
        oldest = head - self.buckets + 1
        kept = [b for b in (state["buckets"] if state else []) if b[0] >= oldest]

        count = 0
        totals: dict[str, list] = {}
        for _, n, sums in kept:
            count += n
            for f, (s, k) in sums.items():
                t = totals.setdefault(f, [0.0, 0])
                t[0] += s
                t[1] += k
        numbers = {f: n for f, v in features.items() if (n := _number(v)) is not None}
        names = sorted(set(totals) | set(numbers))
        aggregates = {"count": count}
        for f in names:
            s, k = totals.get(f, (0.0, 0))
            aggregates[f"mean.{f}"] = s / k if k else 0.0

        if index >= oldest:
            by_index = {b[0]: b for b in kept}
            bucket = by_index.get(index)
            if bucket is None:
                bucket = [index, 0, {}]
                kept.append(bucket)
                kept.sort(key=lambda b: b[0])
            else:
                # Copy before updating: the caller's state may still be referenced.
                bucket = [index, bucket[1], {f: list(sk) for f, sk in bucket[2].items()}]
                kept = [bucket if b[0] == index else b for b in kept]
            bucket[1] += 1
            for f, v in numbers.items():
                sk = bucket[2].setdefault(f, [0.0, 0])
                sk[0] += v
                sk[1] += 1
        return {"head": head, "buckets": kept}, aggregates


def model_input(features: dict, state: dict, aggregates: dict, context: dict) -> dict:
    """The one flat dict every model sees: raw features, then "state.", "agg." and "ctx."
    prefixed ones, keeping only finite numbers (bools as 0/1).

    Examples
    --------
    >>> model_input(
    ...     {"amount": 5.0, "country": "fr", "new": True},
    ...     {"balance": 10.0},
    ...     {"count": 2, "mean.amount": 4.5},
    ...     {"rate": float("nan")},
    ... )
    {'amount': 5.0, 'new': 1, 'state.balance': 10.0, 'agg.count': 2, 'agg.mean.amount': 4.5}

    """
    x = {}
    for prefix, d in (("", features), ("state.", state), ("agg.", aggregates), ("ctx.", context)):
        for k, v in d.items():
            if (n := _number(v)) is not None:
                x[f"{prefix}{k}"] = n
    return x


def context_snapshot(stored: Iterable[tuple[str, dict]]) -> tuple[dict, int]:
    """Every global context's values, prefixed by its name, and the newest version of them.

    Examples
    --------
    >>> context_snapshot([("market", {"values": {"vol": 0.2}, "version": 7, "ts": 1.0}),
    ...                   ("fx", {"values": {"eur": 1.1}, "version": 3, "ts": 1.0})])
    ({'fx.eur': 1.1, 'market.vol': 0.2}, 7)
    >>> context_snapshot([])
    ({}, -1)

    """
    values, version = {}, -1
    for name, d in sorted(stored):
        state = EntityState.from_dict(d)
        values.update({f"{name}.{k}": v for k, v in state.values.items()})
        version = max(version, state.version)
    return values, version


def injected_state(state: EntityState | None, aggregates: dict,
                   context: tuple[dict, int]) -> dict:
    """The external state fields of an enriched record.

    >>> injected_state(None, {"count": 0}, ({}, -1))
    {'state': {}, 'state_version': -1, 'aggregates': {'count': 0}, 'context': {}, 'context_version': -1}

    """
    return dict(state=state.values if state else {},
                state_version=state.version if state else -1,
                aggregates=aggregates, context=context[0], context_version=context[1])
