"""expire_deadlines: answers every request whose deadline passed, by fallback order.

One task sleeps until the earliest deadline (woken early when an earlier one is pushed),
rather than a timer ticking every few milliseconds whether or not anything is due.

Open requests recovered from the changelog (after a crash or rebalance) are first looked
up on `results`: a request answered by a worker that died before its closing marker reached
the changelog, or by this worker before a rebalance reloaded the table from a changelog the
marker had not reached yet (a broker outage delays it), is closed, not answered again.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import defaultdict

import orjson

from kafka_io import offset_for_time, read_partition
from learning.policy import Pending, on_deadline
from tables.writes import delete, put, request_key

from .enrich_event import opened_by
from .results import close_request

RESCAN_S = 1.0
LOOKUP_S = 30.0  # longest a recovery's look-up on `results` may hold up the deadlines

log = logging.getLogger(__name__)


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


async def answered_since(bootstrap: str, topic: str, partition: int, since: float) -> set[str]:
    """Request keys with a result in `topic`[partition] written at or after `since` (epoch s)."""
    start = await offset_for_time(bootstrap, topic, partition, since)
    if start is None:  # nothing written since
        return set()
    answered = set()
    async for message in read_partition(bootstrap, topic, partition, start):
        result = orjson.loads(message.value)
        answered.add(request_key(result["tenant"], result["request_id"]))
    return answered


def enriched_at(entry: dict) -> float:
    """When the request was opened, by the worker's clock (results are written after it)."""
    if "enriched" in entry:
        return orjson.loads(entry["enriched"])["enriched_at"]
    return entry["slot"]["opened_at"]


def attach(rt) -> None:
    app, tables = rt.app, rt.tables
    rt.deadlines = DeadlineQueue()
    events_topic = rt.topics.events.get_topic_name()
    results_topic = rt.topics.results.get_topic_name()
    dedupe_window_s = rt.settings.dedupe_window_s
    looked_up: set[str] = set()  # recovered open requests already looked up on `results`

    def owned_partitions() -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == events_topic}

    async def close_answered_elsewhere(recovered: dict, now: float) -> None:
        """Close recovered open requests that already have a result on `results`."""
        by_partition = defaultdict(dict)
        for rkey, entry in recovered.items():
            by_partition[entry["partition"]][rkey] = entry
        for partition, entries in by_partition.items():
            looked_up.update(entries)
            since = max(min(enriched_at(e) for e in entries.values()) - 1.0,
                        now - dedupe_window_s)
            try:
                answered = await asyncio.wait_for(answered_since(
                    rt.settings.bootstrap, results_topic, partition, since), LOOKUP_S)
            except Exception as exc:  # answer them at their deadline: a duplicate, not a loss
                log.warning("could not look up %d recovered requests of partition %d on %s: "
                            "%r", len(entries), partition, results_topic, exc)
                continue
            for rkey in entries.keys() & answered:
                put(tables.pending, partition, rkey, {"closed_at": now, "partition": partition})
                rt.stats.count("requests_answered_before_recovery", entries[rkey]["slot"]["tenant"])

    async def rescan(now: float) -> None:
        """Queue recovered open slots; forget answered ones older than the dedupe window."""
        owned = owned_partitions()
        recovered = {rkey: entry for rkey, entry in tables.pending.data.items()
                     if entry and "closed_at" not in entry and entry["partition"] in owned
                     and entry.get("opened_by") != opened_by(rt) and rkey not in looked_up}
        if recovered:
            await close_answered_elsewhere(recovered, now)
        open_slots = 0
        for rkey, entry in list(tables.pending.data.items()):
            if not entry or entry["partition"] not in owned:
                continue
            if "closed_at" not in entry:
                open_slots += 1
                rt.deadlines.push(entry["slot"]["deadline_at"], rkey, entry["partition"])
            elif now - entry["closed_at"] > dedupe_window_s:
                delete(tables.pending, entry["partition"], rkey)
                looked_up.discard(rkey)
        rt.metrics.pending.set(open_slots)

    @app.task
    async def expire_deadlines():
        last_scan = 0.0
        while True:
            now = time.time()
            if now - last_scan >= RESCAN_S:
                last_scan = now
                await rescan(now)
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
