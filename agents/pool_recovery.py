"""Recovery of a training partition assigned to a model pool (start, rebalance, crash).

The last verified checkpoint of every model on the partition is loaded; the training
records from the partition's replay watermark up to the pool's committed offset (where its
consumer resumes) are replayed, learning only (no scores, no results: those were sent
when the records were first processed); then the agents go on. Each model skips the
records its checkpoint already reflects, so the result equals the state of a run that
never stopped.
"""

from __future__ import annotations

import logging
import time

from .pool_state import PartitionState

log = logging.getLogger(__name__)


async def recover(pool, partition: int, committed: int | None) -> dict:
    """Restore and replay one partition; returns what was done (logged, and on /stats/)."""
    began = time.monotonic()
    scanned = await pool.store.scan(partition)
    restored, rejected, starts = 0, [], []
    for tenant, model in scanned.models():
        def reject(version, error, tenant=tenant, model=model):
            rejected.append({"tenant": tenant, "model": model, "version": version,
                             "error": str(error)})
            log.error("checkpoint rejected: %s", error)

        found = scanned.latest_verified(tenant, model, pool.opener(tenant, model), reject)
        if found is None:
            starts.append(-1)  # no usable checkpoint: the model is rebuilt from the start
            continue
        meta, state = found
        pool.add_pending(tenant, model, meta, state)
        starts.append(meta["training_offset"])
        restored += 1
    # Without this pool's watermark, tenants without any checkpoint may exist: replay
    # everything. (Another pool's watermark says nothing of this pool's unsaved models.)
    watermark = pool.store.watermark(scanned, partition)
    start = min([-1 if watermark is None else watermark, *starts]) + 1
    # No committed offset: the consumer itself starts from the beginning; nothing to replay.
    end = committed if committed is not None else start
    replayed = 0
    if end > start:
        async for offset, training in pool.read_training(partition, start, end):
            await pool.replay(training, offset, partition)
            replayed += 1
    installed = pool.install_pending()
    pool.partitions.setdefault(partition, PartitionState()).next_offset = max(end, 0)
    pool.store.merge(scanned)
    report = {"partition": partition, "restored": restored, "rejected": rejected,
              "installed_after_replay": installed, "replay_from": start, "resume_at": end,
              "replayed": replayed, "seconds": round(time.monotonic() - began, 3)}
    log.info("recovered training partition %d: %s", partition, report)
    pool.rt.stats.count("recoveries")
    pool.rt.stats.count("recovery_replayed", n=replayed)
    pool.rt.stats.count("recovery_restored", n=restored)
    pool.rt.stats.count("recovery_rejected", n=len(rejected))
    pool.rt.stats.counts["recovery_ms"] += round((time.monotonic() - began) * 1000)
    for tenant in pool.partitions[partition].tenants:
        pool._publish_stats(tenant)
    return report
