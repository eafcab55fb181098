"""Reading a pool's state back from Kafka: the recovery of a training partition assigned to
the pool (start, rebalance, crash), and what a learner step asks to be fetched (a drift
retrain's window, a rollback's checkpoint).

Recovery loads the last verified checkpoint of every model on the partition and replays the
training records from the partition's replay watermark up to the pool's committed offset
(where its consumer resumes), learning only (no scores, no results: those were sent when the
records were first processed); then the agents go on. Each model skips the records its
checkpoint already reflects, so the result equals the state of a run that never stopped.
"""

from __future__ import annotations

import logging
import time

from kafka_io import read_partition
from learning.checkpoint import CheckpointError
from learning.learner import Effects
from schemas import InvalidRecord, Training, decode, encode

log = logging.getLogger(__name__)


async def read_training(rt, partition: int, start: int, end: int):
    """``(offset, Training)`` of the training partition from `start` up to `end`."""
    async for m in read_partition(rt.settings.bootstrap, rt.settings.topic("training"),
                                  partition, start, end):
        try:
            yield m.offset, decode(Training, m.value, rt.limits)
        except InvalidRecord:
            continue  # dead-lettered when it was first consumed; never learnt


async def step(pool, learner, partition: int, take) -> Effects:
    """``take()`` (a learner step) until it needs nothing fetched: first the retraining
    windows (read from Kafka, so that a recovery replaying this record retrains the same
    way), then the rollbacks' checkpoints (each recorded as a new checkpoint)."""
    rt = pool.rt
    while (effects := take()).fetch:
        for request in effects.retrains:
            async for offset, training in read_training(rt, partition, request.start,
                                                        request.end):
                learner.feed_retrain(request, offset, training)
            learner.end_retrain(request)
            rt.stats.count("drift_retrains", learner.tenant)
        for request in effects.rollbacks:
            tenant, name, version = learner.tenant, request.model, request.version
            found = await load_checkpoint(pool, partition, tenant, name, version)
            if not learner.rollback(request, found):
                log.error("rollback of %s/%s to v%s failed: kept the current state", tenant,
                          name, version)
                rt.stats.count("rollbacks_failed", tenant)
                continue
            rt.stats.count("rollbacks", tenant)
            log.info("rolled back %s/%s to checkpoint v%s", tenant, name, version)
            await pool.checkpoints.write(tenant, name, reason="rollback", parent=version)
    return effects


async def load_checkpoint(pool, partition: int, tenant: str, model: str,
                          version: int) -> tuple[dict, dict] | None:
    """``(meta, state)`` of one checkpoint version, verified; None if it is not there."""
    index = await pool.store.scan(partition)
    meta = index.meta(tenant, model, version)
    if meta is None:
        return None
    payload = index.payload(tenant, model, version)
    try:
        if payload is None:
            raise CheckpointError("incomplete")
        return meta, pool.store.opener(tenant, model)(payload, meta)
    except CheckpointError as e:
        log.error("checkpoint %s/%s v%s: %s", tenant, model, version, e)
        return None


async def publish_drift(rt, tenant: str, effects: Effects) -> None:
    for detection in effects.detections:
        await rt.topics.drift.send(key=tenant.encode(), value=encode(detection))
        rt.stats.count("drift_detections", tenant)


async def recover(pool, partition: int, committed: int | None) -> dict:
    """Restore and replay one partition; returns what was done (logged, and on /stats/)."""
    rt = pool.rt
    began = time.monotonic()
    scanned = await pool.store.scan(partition)
    restored, rejected, starts = 0, [], []
    for tenant, model in scanned.models():
        def reject(version, error, tenant=tenant, model=model):
            rejected.append({"tenant": tenant, "model": model, "version": version,
                             "error": str(error)})
            log.error("checkpoint rejected: %s", error)

        found = scanned.latest_verified(tenant, model, pool.store.opener(tenant, model), reject)
        if found is None:
            starts.append(-1)  # no usable checkpoint: the model is rebuilt from the start
            continue
        meta, state = found
        pool.learner(tenant, partition).add_pending(model, meta, state)
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
        async for offset, training in read_training(rt, partition, start, end):
            learner = pool.learner(training.tenant, partition)
            effects = await step(pool, learner, partition,
                                 lambda: learner.replay(training, offset))
            await publish_drift(rt, training.tenant, effects)
            replayed += 1
    tenants = [t for t, p in pool.partition_of.items() if p == partition]
    installed = sum(pool.learners[t].install_pending() for t in tenants)
    pool.resume_at(partition, max(end, 0))
    pool.store.merge(scanned)
    report = {"partition": partition, "restored": restored, "rejected": rejected,
              "installed_after_replay": installed, "replay_from": start, "resume_at": end,
              "replayed": replayed, "seconds": round(time.monotonic() - began, 3)}
    log.info("recovered training partition %d: %s", partition, report)
    rt.stats.count("recoveries")
    rt.stats.count("recovery_replayed", n=replayed)
    rt.stats.count("recovery_restored", n=restored)
    rt.stats.count("recovery_rejected", n=len(rejected))
    rt.stats.counts["recovery_ms"] += round((time.monotonic() - began) * 1000)
    for tenant in tenants:
        pool.publish_stats(tenant)
    return report
