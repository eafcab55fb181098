"""The checkpoint plumbing of a model pool: the writing of a model's checkpoint to its store
(`tables.checkpoints`), and the timer and shutdown hook that write them.

Checkpoints are written every ``checkpoint_every_n`` records a model learnt (agents.learn),
every ``checkpoint_every_s`` seconds for a model with unsaved learning (the timer here: oldest
first, a bounded number per tick, see `Checkpoints.due`), on graceful shutdown, and after a
rollback; a sweep moves each partition's replay watermark once, at its end.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import pickle
import time
from functools import partial

from learning.checkpoint import seal_pickled
from schemas import CheckpointMeta

log = logging.getLogger(__name__)

# A timer tick checkpoints at most twice its share of the unsaved models (every_s spread over
# ticks), oldest first, and at least this many: a sweep over 30k models is spread over ticks.
MIN_PER_TICK = 256


class Checkpoints:
    """Writes the checkpoints of a pool's models (`pool`: an agents.pool.Pool)."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self.rt = pool.rt
        self.store = pool.store
        self._writing: set[tuple[str, str]] = set()

    def unsaved(self) -> list[tuple[str, str]]:
        """``(tenant, model)`` of every model learnt since its last checkpoint."""
        return [(t, n) for t, learner in self.pool.learners.items() for n in learner.unsaved()]

    async def due(self, now: float, every_s: float, interval: float) -> int:
        """One tick of the timer (every `interval` s): checkpoint the models last saved at
        least `every_s` ago, oldest first, at most twice a tick's share of the unsaved
        models, so that models that all became due together are spread over the next ticks
        and a tick never pickles every model on the loop."""
        unsaved = self.unsaved()
        limit = max(MIN_PER_TICK, math.ceil(2 * len(unsaved) * interval / every_s))
        learners = self.pool.learners
        due = [(saved_at, t, n) for t, n in unsaved
               if now - (saved_at := learners[t].saved_at.get(n, now)) >= every_s]
        return await self.many([(t, n) for _, t, n in heapq.nsmallest(limit, due)], "every-s")

    async def all(self, reason: str = "shutdown") -> int:
        """Checkpoint every model with unsaved learning; one that fails is logged and the
        others go on."""
        return await self.many(self.unsaved(), reason, tolerant=True)

    async def many(self, models, reason: str, tolerant: bool = False) -> int:
        """Checkpoint `models` ((tenant, name) pairs); each touched partition's watermark is
        written once, after them all (a watermark written late is only lower, which is safe:
        recovery replays a little more). Returns the checkpoints written."""
        written, touched = 0, set()
        try:
            for tenant, name in models:
                try:
                    meta = await self.write(tenant, name, reason=reason, watermark=False)
                except Exception:
                    if not tolerant:
                        raise
                    log.exception("%s checkpoint of %s/%s failed", reason, tenant, name)
                    continue
                if meta is not None:
                    written += 1
                    touched.add(self.pool.partition_of.get(tenant))
        finally:
            for partition in sorted(p for p in touched if p in self.pool.partitions):
                # (a partition dropped meanwhile is another worker's: left as it is)
                await self.store.write_watermark(partition, self.pool.watermark(partition))
        return written

    async def write(self, tenant: str, name: str, reason: str, parent: int | None = None,
                    watermark: bool = True) -> CheckpointMeta | None:
        """Write the model's state as its next checkpoint version; prune; move the watermark
        (unless `watermark` is false: `many` moves it once for a whole sweep)."""
        learner = self.pool.learners.get(tenant)
        if (tenant, name) in self._writing or learner is None or name not in learner.progress:
            return None
        self._writing.add((tenant, name))
        try:
            rt = self.rt
            slot, progress = learner.progress[name]
            partition = self.pool.partition_of[tenant]
            version = max(self.store.index.last_version(tenant, name), progress.version) + 1
            began = time.perf_counter()
            # On the loop: the model must not change while it is pickled.
            data = pickle.dumps(learner.checkpoint_state(name), protocol=pickle.HIGHEST_PROTOCOL)
            offset, unsaved = progress.offset, progress.unsaved
            sealed = await asyncio.get_running_loop().run_in_executor(None, partial(
                seal_pickled, data, key=rt.settings.signing_key, tenant=tenant, model=name,
                version=version))
            meta = CheckpointMeta(
                tenant=tenant, model=name, version=version, training_offset=offset,
                metrics={k: float(v) for k, v in slot.metrics().items() if v is not None},
                created_at=time.time(), size_bytes=sealed.size, signature=sealed.signature,
                parent_version=(progress.version or None) if parent is None else parent,
                role=slot.role, model_version=slot.version, reason=reason)
            await self.store.write(partition, sealed, meta)
            learner.saved(name, progress, version, offset, unsaved)
            await self.store.prune(partition, tenant, name, rt.settings.checkpoint_keep)
            if watermark:
                await self.store.write_watermark(partition, self.pool.watermark(partition))
            rt.metrics.checkpoint_written(sealed.size, meta.created_at)
            rt.stats.count("checkpoints", tenant)
            rt.stats.count(f"checkpoints.{reason}")
            rt.stats.counts["checkpoint_bytes"] += sealed.size
            rt.stats.counts["checkpoint_ms"] += round((time.perf_counter() - began) * 1000)
            return meta
        finally:
            self._writing.discard((tenant, name))


def attach(rt) -> None:
    """The timer (checkpoint_every_s) and the graceful-shutdown checkpoint."""
    checkpoints = rt.pool.checkpoints
    every_s = rt.settings.checkpoint_every_s
    interval = min(every_s, 5.0)

    @rt.app.timer(interval=interval, name="checkpoint_timer")
    async def checkpoint_timer():
        await checkpoints.due(time.monotonic(), every_s, interval)

    @rt.app.on_before_shutdown.connect
    async def checkpoint_on_shutdown(app, **kwargs):
        # Agents are idle by now (Faust waited for their streams) and the producer is flushed
        # after this hook: the last state of every model with unsaved learning is written
        # (models unchanged since their last checkpoint are skipped).
        began = time.monotonic()
        written = await checkpoints.all("shutdown")
        log.info("shutdown: wrote %d checkpoints in %.1fs", written, time.monotonic() - began)
