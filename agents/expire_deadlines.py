"""expire_deadlines: answers every request whose deadline passed, by fallback order.

One task sleeps until the earliest deadline (woken early when an earlier one is pushed),
rather than a timer ticking every few milliseconds whether or not anything is due.
"""

from __future__ import annotations

import asyncio
import heapq
import time

from learning.policy import Pending, on_deadline
from tables.writes import delete

from .results import close_request

RESCAN_S = 1.0


class DeadlineQueue:
    """Deadlines of the requests this worker opened, earliest first.

    Requests recovered from the changelog after a restart or rebalance are not in it; a
    periodic scan of the pending table adds them.
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


def attach(rt) -> None:
    app, tables = rt.app, rt.tables
    rt.deadlines = DeadlineQueue()
    events_topic = rt.topics.events.get_topic_name()
    dedupe_window_s = rt.settings.dedupe_window_s

    def owned_partitions() -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == events_topic}

    def rescan(now: float) -> None:
        """Queue recovered open slots; forget answered ones older than the dedupe window."""
        owned = owned_partitions()
        open_slots = 0
        for rkey, entry in list(tables.pending.data.items()):
            if not entry or entry["partition"] not in owned:
                continue
            if "closed_at" not in entry:
                open_slots += 1
                rt.deadlines.push(entry["slot"]["deadline_at"], rkey, entry["partition"])
            elif now - entry["closed_at"] > dedupe_window_s:
                delete(tables.pending, entry["partition"], rkey)
        rt.metrics.pending.set(open_slots)

    @app.task
    async def expire_deadlines():
        last_scan = 0.0
        while True:
            now = time.time()
            if now - last_scan >= RESCAN_S:
                last_scan = now
                rescan(now)
            for rkey in rt.deadlines.due(now):
                entry = tables.pending.data.get(rkey)
                if entry is None or "closed_at" in entry:  # the champion answered first
                    continue
                slot = rt.slots.get(rkey) or Pending.from_dict(entry["slot"])
                slot, decision = on_deadline(slot, now)
                if decision is not None:
                    await close_request(rt, rkey, entry, slot, decision, now)
            next_at = rt.deadlines.next_at()
            wait = RESCAN_S if next_at is None else min(RESCAN_S, max(0.0, next_at - time.time()))
            rt.deadlines.earlier.clear()
            try:
                await asyncio.wait_for(rt.deadlines.earlier.wait(), wait)
            except asyncio.TimeoutError:
                pass
