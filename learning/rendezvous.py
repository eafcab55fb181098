"""The rendezvous' bookkeeping around its policy (`learning.policy`): deadlines, requests
recovered from another process, and answers waiting for their delayed label.

The serving agent (`agents.rendezvous`) does the I/O; what to queue, look up, forget or
record is decided here, without a broker or a clock.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Protocol

__all__ = ["DeadlineQueue", "Entry", "Recovery", "Sweep", "ServedAnswers", "LOOKUP_MARGIN_S"]

#: Results are looked up from this long before the earliest recovered request was opened:
#: clocks of the workers and the broker's log-append times differ slightly.
LOOKUP_MARGIN_S = 1.0


class DeadlineQueue:
    """Deadlines of the requests this worker opened, earliest first.

    Requests recovered from the changelog after a restart or rebalance are not in it; a
    periodic sweep of the pending table adds them.

    >>> q = DeadlineQueue()
    >>> q.push(2.0, "b", 0); q.push(1.0, "a", 0); q.push(1.0, "a", 0)
    >>> len(q), q.next_at(), q.due(1.5), q.due(3.0), q.next_at()
    (2, 1.0, ['a'], ['b'], None)
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, str, int]] = []
        self._queued: set[str] = set()
        self.earlier = asyncio.Event()  # set when the earliest deadline moved forward

    def push(self, deadline_at: float, rkey: str, partition: int) -> None:
        if rkey not in self._queued:
            self._queued.add(rkey)
            if not self._heap or deadline_at < self._heap[0][0]:
                self.earlier.set()
            heapq.heappush(self._heap, (deadline_at, rkey, partition))

    def due(self, now: float) -> list[str]:
        keys = []
        while self._heap and self._heap[0][0] <= now:
            _, rkey, _ = heapq.heappop(self._heap)
            self._queued.discard(rkey)
            keys.append(rkey)
        return keys

    def next_at(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)


class Entry(Protocol):
    """What the sweep reads of a pending-table entry (open: closed_at None; closed: the rest None)."""

    partition: int
    closed_at: float | None
    deadline_at: float | None
    opened_by: str | None
    enriched_at: float | None


@dataclass
class Sweep:
    """One pass over the pending table: what to queue, what to forget, how many are open."""

    queue: list[tuple[float, str, int]] = field(default_factory=list)
    forget: list[tuple[str, int]] = field(default_factory=list)
    open: int = 0


class Recovery:
    """Open requests recovered from another process, or from before a rebalance, are looked
    up on `results` once before their deadline may answer them: the request may have been
    answered by a worker that died before its closing marker reached the changelog.

    >>> from types import SimpleNamespace as E
    >>> mine = E(partition=0, closed_at=None, deadline_at=5.0, opened_by="me", enriched_at=1.0)
    >>> theirs = E(partition=1, closed_at=None, deadline_at=5.0, opened_by="x", enriched_at=3.0)
    >>> old = E(partition=1, closed_at=10.0, deadline_at=None, opened_by=None, enriched_at=None)
    >>> r = Recovery(dedupe_window_s=600.0)
    >>> entries = {"a": mine, "b": theirs, "c": old}
    >>> r.lookups(entries.items(), owned={0, 1}, me="me", now=100.0)
    {1: (2.0, ['b'])}
    >>> r.lookups(entries.items(), owned={0, 1}, me="me", now=100.0)  # once only
    {}
    >>> s = r.sweep(entries.items(), owned={0, 1}, now=610.0)
    >>> s.queue, s.forget, s.open
    ([(5.0, 'a', 0), (5.0, 'b', 1)], [], 2)
    >>> r.sweep(entries.items(), owned={0}, now=700.0).open
    1
    >>> r.sweep(entries.items(), owned={1}, now=611.0).forget
    [('c', 1)]
    """

    def __init__(self, dedupe_window_s: float) -> None:
        self.dedupe_window_s = dedupe_window_s
        self._looked_up: set[str] = set()

    def lookups(self, entries: Iterable[tuple[str, Entry]], owned: set[int], me: str,
                now: float) -> dict[int, tuple[float, list[str]]]:
        """partition -> (look up results written since, request keys), marked looked up."""
        found: dict[int, list[tuple[str, Entry]]] = defaultdict(list)
        for rkey, e in entries:
            if (e.closed_at is None and e.partition in owned and e.opened_by != me
                    and rkey not in self._looked_up):
                found[e.partition].append((rkey, e))
        plan = {}
        for partition, opened in found.items():
            self._looked_up.update(rkey for rkey, _ in opened)
            since = max(min(e.enriched_at for _, e in opened) - LOOKUP_MARGIN_S,
                        now - self.dedupe_window_s)
            plan[partition] = (since, [rkey for rkey, _ in opened])
        return plan

    def sweep(self, entries: Iterable[tuple[str, Entry]], owned: set[int], now: float) -> Sweep:
        """Queue the open requests this worker owns; forget answers past the dedupe window."""
        sweep = Sweep()
        for rkey, e in entries:
            if e.partition not in owned:
                continue
            if e.closed_at is None:
                sweep.open += 1
                sweep.queue.append((e.deadline_at, rkey, e.partition))
            elif now - e.closed_at > self.dedupe_window_s:
                sweep.forget.append((rkey, e.partition))
                self._looked_up.discard(rkey)
        return sweep


class ServedAnswers:
    """Answers served before their delayed label came, for served accuracy, most recent kept.

    >>> s = ServedAnswers(limit=1)
    >>> s.remember("a", "logreg", True); s.remember("b", None, False)
    >>> s.pop("a"), s.pop("b"), s.pop("b")
    (None, (None, False), None)
    """

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self._answers: OrderedDict[str, tuple[str | None, object]] = OrderedDict()

    def remember(self, rkey: str, model: str | None, output: object) -> None:
        self._answers[rkey] = (model, output)
        if len(self._answers) > self.limit:
            self._answers.popitem(last=False)

    def pop(self, rkey: str) -> tuple[str | None, object] | None:
        return self._answers.pop(rkey, None)

    def __len__(self) -> int:
        return len(self._answers)
