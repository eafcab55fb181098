"""What a model pool holds in memory: each tenant's models, where each model is in the
tenant's training stream, and which requests they scored; and how that state is checkpointed,
recovered on a partition assignment, and rolled back.

Model state changes only on ``training`` records (learning, deployment changes, rollbacks),
in partition order, so it is a function of the training prefix: recovery restores the last
verified checkpoint of each model and replays the training records after it, learning only,
and gets the state a run without the crash would have. Scoring reads that state; a
deployment that reaches scoring before training (a deploy, while labels lag) is scored by a
preview: the trained slots it keeps, fresh ones for the models it adds or rebuilds, which
is exactly what training will build when the deployment reaches it.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from functools import partial

from aiokafka.errors import KafkaError

from learning.checkpoint import CheckpointError, open_sealed, seal_pickled
from learning.deployment import Deployment
from learning.drift import DriftConfig, DriftMonitor
from learning.enrichment import model_input
from learning.progress import (ModelProgress, StateMismatch, UnsavedIndex, fingerprint, restore,
                               snapshot)
from learning.slot import LearnError
from learning.tenant_models import TenantModels
from schemas import CheckpointMeta, DriftEvent, Enriched, InvalidRecord, Score, Training, decode, encode

from .deployments import DeploymentResolver
from kafka_io import committed_offset, read_partition

from .pool_checkpoints import CheckpointStore, pickled

log = logging.getLogger(__name__)

SCORED_MEMORY = 100_000  # per tenant: far more than can be in flight between enrich and learn
# Per tenant: the requests learnt last. A training record is re-sent when the serving worker
# dies after sending it but before its pending-table write reached the changelog: the event is
# redelivered and its label emitted again, at another offset. Such copies follow within
# seconds, far inside this window, and are not learnt twice.
LEARNED_MEMORY = 100_000
# A timer tick checkpoints at most twice its share of the unsaved models (every_s spread over
# ticks), oldest first, and at least this many: a sweep over 30k models is spread over ticks.
MIN_PER_TICK = 256


@dataclass
class PartitionState:
    next_offset: int = 0  # the next training offset this worker expects
    stale: bool = False  # revoked: another worker may have moved it on since
    tenants: set = field(default_factory=set)


class PoolState:
    def __init__(self, rt) -> None:
        self.rt = rt
        self.pool = rt.settings.role
        self.resolver = DeploymentResolver(rt)
        self.training_topic = rt.settings.topic("training")
        self.models: dict[str, TenantModels] = {}  # changed by training records only
        self.progress: dict[str, dict[str, tuple]] = {}  # tenant -> model -> (slot, progress)
        self.partition_of: dict[str, int] = {}
        self.partitions: dict[int, PartitionState] = {}
        self.store = CheckpointStore(rt)
        self.recoveries: list[dict] = []
        self._previews: dict[str, TenantModels] = {}
        self._scored: dict[str, OrderedDict] = {}
        self._learned: dict[str, OrderedDict] = {}
        self._pending: dict[str, dict[str, tuple[dict, dict]]] = {}  # restores during replay
        self._to_check: set[int] = set()  # assigned, not yet checked against the group offset
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._saved_at: dict[tuple[str, str], float] = {}
        self._writing: set[tuple[str, str]] = set()
        self._unsaved: dict[int, UnsavedIndex] = {}  # partition -> its earliest unsaved record
        self.drift: dict[str, DriftMonitor] = {}  # tenant -> ADWIN detectors of its models here

    # --- partitions: assignment, recovery --------------------------------------------------

    def assigned(self, partitions: set[int]) -> None:
        self._to_check |= partitions

    def revoked(self, partitions: set[int]) -> None:
        # Kept: if the partition comes back and nobody moved it on, nothing is replayed.
        for p in partitions:
            if p in self.partitions:
                self.partitions[p].stale = True

    async def ready(self, partition: int) -> None:
        """Recover `partition` if it was just assigned and this worker's state is not current.

        Both agents call it before touching a tenant's models; partitions that were never
        assigned through a rebalance (agent tests) start empty, with no I/O.
        """
        if partition not in self._to_check:
            self.partitions.setdefault(partition, PartitionState())
            return
        async with self._locks[partition]:
            if partition not in self._to_check:
                return
            from .pool_recovery import recover

            backoff = 0.5
            while True:
                recovering = False
                try:
                    committed = await committed_offset(self.rt.settings.bootstrap, self.rt.settings.app_id,
                                                        self.training_topic, partition)
                    held = self.partitions.get(partition)
                    if held is not None and committed == held.next_offset:
                        held.stale = False  # came back untouched: the models are current
                    else:
                        recovering = True
                        self._drop_partition(partition)
                        report = await recover(self, partition, committed)
                        self.recoveries.append(report)
                    break
                except (KafkaError, OSError) as exc:
                    # The broker is down or restarting: wait for it rather than crash the
                    # agents; a half-done recovery is dropped and redone from the start.
                    log.warning("recovery of training partition %d waits for Kafka: %r",
                                partition, exc)
                    if recovering:
                        self._drop_partition(partition)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
            self._to_check.discard(partition)

    def _drop_partition(self, partition: int) -> None:
        held = self.partitions.pop(partition, None)
        self._unsaved.pop(partition, None)
        for tenant in (held.tenants if held else ()):
            for d in (self.models, self.progress, self._previews, self._pending, self._scored,
                      self._learned, self.partition_of, self.drift):
                d.pop(tenant, None)
            self.rt.stats.models.pop(tenant, None)

    # --- scoring --------------------------------------------------------------------------------

    async def models_for(self, enriched: Enriched, partition: int = 0) -> TenantModels:
        """The models that score `enriched`: the trained ones, or a preview of a deployment
        that training has not reached yet."""
        await self.ready(partition)
        deployment = self.resolver.parse(enriched.tenant, enriched.deployment)
        self._place(enriched.tenant, partition)
        trained = self.models.get(enriched.tenant)
        if trained is not None and deployment.version <= trained.deployment.version:
            return trained
        preview = self._previews.get(enriched.tenant)
        if preview is None or preview.deployment.version != deployment.version:
            preview = self._previews[enriched.tenant] = TenantModels(deployment, self.pool)
            for name, slot in (trained.slots.items() if trained else ()):
                fresh = preview.slots.get(name)
                if fresh is not None and fingerprint(fresh.task, fresh.deployment) == fingerprint(
                        slot.task, slot.deployment):
                    preview.slots[name] = slot
        return preview

    def _place(self, tenant: str, partition: int) -> None:
        self.partition_of[tenant] = partition
        self.partitions.setdefault(partition, PartitionState()).tenants.add(tenant)

    def was_scored(self, tenant: str, request_id: str) -> bool:
        return request_id in self._scored.get(tenant, ())

    def _mark_scored(self, tenant: str, request_id: str) -> None:
        _remember(self._scored, tenant, request_id, SCORED_MEMORY)

    def _first_learning(self, training: Training) -> bool:
        """Whether this is the first training record of its request (see LEARNED_MEMORY).

        Fed in stream order, live and in replay alike, so a recovered pool skips the same
        copies a pool that never stopped skipped (unless the first copy lies before the
        replay's start: then the copy is learnt, the one case where they differ).
        """
        if training.request_id in self._learned.get(training.tenant, ()):
            self.rt.stats.count("training_duplicates", training.tenant)
            return False
        _remember(self._learned, training.tenant, training.request_id, LEARNED_MEMORY)
        return True

    async def score_and_publish(self, enriched: Enriched, models: TenantModels) -> None:
        """Every model of the tenant in this pool scores the request once; one record each."""
        rt = self.rt
        self._mark_scored(enriched.tenant, enriched.request_id)
        x = _input(enriched)
        key = enriched.tenant.encode()
        for slot, scored in models.score_all(x):
            score = Score(tenant=enriched.tenant, request_id=enriched.request_id, model=slot.name,
                          version=slot.version, role=slot.role, pool=self.pool,
                          output=scored.output, proba=scored.proba, error=scored.error,
                          latency_ms=scored.latency_ms, scored_at=time.time())
            await rt.topics.scores.send(key=key, value=encode(score))
            rt.metrics.scores.labels(slot.role, "error" if scored.error else "ok").inc()
            rt.metrics.scoring_latency.labels(slot.role).observe(scored.latency_ms / 1000.0)
            rt.stats.count("scores", enriched.tenant)

    # --- learning --------------------------------------------------------------------------------

    async def learn(self, training: Training, offset: int, partition: int) -> None:
        """A live training record: score it first if its enriched record was not (a label
        never reaches a score), learn it, checkpoint the models that are due."""
        await self.ready(partition)
        held = self.partitions[partition]
        if offset > held.next_offset and held.next_offset > 0:
            # Nothing should be skipped between recovery and the consumer; say so if it was.
            log.warning("training %d: offsets %d..%d were never seen", partition,
                        held.next_offset, offset - 1)
            self.rt.stats.count("training_gaps")
        models, learners = await self._prepare(training, offset, partition)
        enriched = training.enriched
        if learners and not self.was_scored(enriched.tenant, enriched.request_id):
            await self.score_and_publish(enriched, models)
        self._learn(training, offset, learners)
        await self.watch_drift(training, offset, models, learners)
        held.next_offset = max(held.next_offset, offset + 1)
        if learners:
            self.rt.metrics.learned.inc(len(learners))
            self.rt.stats.count("learned", enriched.tenant)
        self._publish_stats(training.tenant)
        every_n = self.rt.settings.checkpoint_every_n
        for name in learners:
            if self.progress[training.tenant][name][1].unsaved >= every_n:
                await self.checkpoint(training.tenant, name, reason="every-n")

    async def replay(self, training: Training, offset: int, partition: int) -> None:
        """A training record already processed before a crash or rebalance: learn only."""
        _, learners = await self._prepare(training, offset, partition)
        self._mark_scored(training.tenant, training.request_id)
        models = self.models.get(training.tenant)
        self._learn(training, offset, learners)
        if models is not None:  # detectors see the replayed errors too; serving dedupes alarms
            await self.watch_drift(training, offset, models, learners)

    async def watch_drift(self, training: Training, offset: int, models: TenantModels,
                          learners: list[str]) -> None:
        """Feed the tenant's drift detectors; publish each detection on the drift topic."""
        # A model that did not learn this record has a stale last prediction.
        if not learners or len(learners) != len(models.slots):
            return
        tenant = training.tenant
        monitor = self.drift.get(tenant)
        if monitor is None or monitor.task != models.deployment.task:
            monitor = self.drift[tenant] = DriftMonitor(
                tenant, models.deployment.task, DriftConfig(warmup=self.rt.settings.drift_warmup))
        # Raw features: rolling aggregates and injected state drift by construction.
        for detection in monitor.observe_models(offset, training.enriched.features,
                                                training.label, models):
            record = DriftEvent(**detection.record(time.time()))
            await self.rt.topics.drift.send(key=tenant.encode(), value=encode(record))
            self.rt.stats.count("drift_detections", tenant)

    async def _prepare(self, training: Training, offset: int, partition: int):
        """Bring the tenant's models to this record's deployment, install restores due here;
        return the models and the names of those that learn this record (none for a copy of
        a request already learnt)."""
        tenant = training.tenant
        self._place(tenant, partition)
        deployment = self.resolver.parse(tenant, training.enriched.deployment)
        models = self.models.get(tenant)
        if models is None:
            models = self.models[tenant] = TenantModels(deployment, self.pool)
        elif deployment.version > models.deployment.version:
            # Only forwards: a delayed label carries the deployment of its request's time.
            models.sync(deployment, self.pool)
        tracks = self._tracks(tenant, models)
        for name, (meta, state) in list(self._pending.get(tenant, {}).items()):
            if offset > meta["training_offset"]:
                self._install(tenant, models, name, meta, state)
        for name, (slot, progress) in list(tracks.items()):
            start = slot.deployment.retrain_from
            if start is not None and progress.offset < 0 and start < offset:
                await self._retrain(tenant, name, partition, start, offset)
        for name, slot in models.slots.items():
            m = slot.deployment
            if m.restore_version is not None and tracks[name][1].restore != [m.restore_version,
                                                                               m.restore_token]:
                await self._rollback(tenant, name, partition)
        if not self._first_learning(training):
            return models, []
        learners = [name for name, (_, p) in tracks.items() if offset > p.offset]
        return models, learners

    async def _retrain(self, tenant: str, name: str, partition: int, start: int,
                       end: int) -> None:
        """A drift response rebuilt `name` to retrain on the post-drift window: it learns its
        tenant's training records from `start` up to `end` (read from Kafka, so a recovery
        that replays this record retrains it the same way), then goes on from `end`."""
        slot, progress = self.progress[tenant][name]
        async for offset, training in self.read_training(partition, start, end):
            if training.tenant != tenant:
                continue
            try:
                slot.learn(_input(training.enriched), training.label)
            except LearnError:
                continue
            self._advance(tenant, name, progress, offset, training.request_id,
                          slot.last_prediction)
        progress.offset = end - 1
        self.rt.stats.count("drift_retrains", tenant)

    def _tracks(self, tenant: str, models: TenantModels) -> dict:
        tracks = self.progress.setdefault(tenant, {})
        for name in [n for n in tracks if n not in models.slots]:
            del tracks[name]
        for name, slot in models.slots.items():
            if name not in tracks or tracks[name][0] is not slot:  # new or rebuilt
                tracks[name] = (slot, ModelProgress())
                self._saved_at[(tenant, name)] = time.monotonic()
        return tracks

    def _learn(self, training: Training, offset: int, learners: list[str]) -> None:
        if not learners:
            return
        x = _input(training.enriched)
        tracks = self.progress[training.tenant]
        models = self.models[training.tenant]
        if len(learners) == len(models.slots):
            models.learn_all(x, training.label)  # the usual case: every model learns it
        else:  # after a recovery, the models whose checkpoint is ahead skip it
            for name in learners:
                try:
                    tracks[name][0].learn(x, training.label)
                except LearnError:
                    pass  # counted by the slot; the record is still behind this model
        for name in learners:
            slot, progress = tracks[name]
            self._advance(training.tenant, name, progress, offset, training.request_id,
                          slot.last_prediction)

    def _advance(self, tenant: str, name: str, progress: ModelProgress, offset: int,
                 request_id: str, prediction) -> None:
        """The model learnt the record at `offset`; index it if it is its first unsaved one."""
        first = progress.first_unsaved
        progress.advance(offset, request_id, prediction)
        if first is None:  # its first record since its last checkpoint
            self._note_unsaved(tenant, name, progress)

    def _publish_stats(self, tenant: str) -> None:
        models = self.models.get(tenant)
        if models is None:
            return
        tracks = self.progress.get(tenant, {})
        self.rt.stats.models[tenant] = {
            name: {**slot.metrics(), "version": slot.version, "role": slot.role,
                   **(tracks[name][1].public() if name in tracks else {})}
            for name, slot in models.slots.items()}

    # --- restores -------------------------------------------------------------------------------

    def opener(self, tenant: str, model: str):
        key = self.rt.settings.signing_key

        def open_(payload: bytes, meta: dict):
            state = open_sealed(payload, meta["signature"], key=key, tenant=tenant, model=model,
                                version=meta["version"])
            if not isinstance(state, dict) or state.get("progress", {}).get(
                    "offset") != meta["training_offset"]:
                raise CheckpointError(f"checkpoint {tenant}/{model} v{meta['version']}: "
                                      "state and metadata disagree")
            return state

        return open_

    def _install(self, tenant: str, models: TenantModels, name: str, meta: dict,
                 state: dict) -> bool:
        """Put a restored state in place of the model's slot, if it is of the same build."""
        self._pending.get(tenant, {}).pop(name, None)
        slot = models.slots.get(name)
        if slot is None:
            return False
        try:
            restored, progress = restore(state, models.deployment.task, slot.deployment)
        except StateMismatch as e:
            log.info("not restoring %s/%s v%s: %s", tenant, name, meta["version"], e)
            return False
        models.slots[name] = restored
        self.progress.setdefault(tenant, {})[name] = (restored, progress)
        self._saved_at[(tenant, name)] = time.monotonic()
        return True

    def add_pending(self, tenant: str, name: str, meta: dict, state: dict) -> None:
        self._pending.setdefault(tenant, {})[name] = (meta, state)

    def install_pending(self) -> int:
        """After a replay: restore what no replayed record reached. A tenant with no replayed
        record gets the models of the newest deployment its checkpoints were taken under."""
        installed = 0
        for tenant, pending in list(self._pending.items()):
            models = self.models.get(tenant)
            if models is None:
                newest = max((s["deployment"] for _, s in pending.values()),
                             key=lambda d: d["version"])
                models = self.models[tenant] = TenantModels(Deployment.from_dict(newest),
                                                            self.pool)
                self._tracks(tenant, models)
            for name, (meta, state) in list(pending.items()):
                installed += self._install(tenant, models, name, meta, state)
            self._pending.pop(tenant, None)
            self._publish_stats(tenant)
        return installed

    async def _rollback(self, tenant: str, name: str, partition: int) -> None:
        """Restore the checkpoint the deployment names; learning goes on from it."""
        models = self.models[tenant]
        slot, current = self.progress[tenant][name]
        m = slot.deployment
        marker = [m.restore_version, m.restore_token]
        index = await self.store.scan(partition)
        found = None
        if index.meta(tenant, name, m.restore_version) is not None:
            payload = index.payload(tenant, name, m.restore_version)
            meta = index.meta(tenant, name, m.restore_version)
            try:
                if payload is None:
                    raise CheckpointError("incomplete")
                found = meta, self.opener(tenant, name)(payload, meta)
            except CheckpointError as e:
                log.error("rollback of %s/%s to v%s: %s", tenant, name, m.restore_version, e)
        if found is None or not self._install(tenant, models, name, *found):
            # Recorded as applied either way: a missing version must not stall learning.
            log.error("rollback of %s/%s to v%s failed: kept the current state", tenant, name,
                      m.restore_version)
            current.restore = marker
            self.rt.stats.count("rollbacks_failed", tenant)
            return
        restored_slot, progress = self.progress[tenant][name]
        # Its state is version V's; its position is now: it learns from the next record on.
        progress.offset = current.offset
        progress.restore = marker
        self.rt.stats.count("rollbacks", tenant)
        log.info("rolled back %s/%s to checkpoint v%s", tenant, name, m.restore_version)
        await self.checkpoint(tenant, name, reason="rollback", parent=m.restore_version)

    # --- checkpoints ----------------------------------------------------------------------------

    def unsaved(self) -> list[tuple[str, str]]:
        """The models learnt since their last checkpoint (the others need none)."""
        return [(t, n) for t, tracks in self.progress.items() for n, (_, p) in tracks.items()
                if p.unsaved]

    def due_by_time(self, now: float, every_s: float, limit: int | None = None,
                    unsaved: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        """The unsaved models last saved at least `every_s` ago, oldest first; at most
        `limit` of them."""
        due = [(saved_at, t, n) for t, n in (self.unsaved() if unsaved is None else unsaved)
               if now - (saved_at := self._saved_at.get((t, n), now)) >= every_s]
        due = heapq.nsmallest(limit, due) if limit is not None else sorted(due)
        return [(t, n) for _, t, n in due]

    async def checkpoint_due(self, now: float, every_s: float, interval: float) -> int:
        """One tick of the timer (every `interval` s): checkpoint the models due by time.

        At most twice a tick's share of the unsaved models are written per tick (oldest
        first), so models that all became due together are spread over the next ticks and a
        tick never pickles every model on the loop; in the steady state each model is still
        checkpointed about every `every_s`.
        """
        unsaved = self.unsaved()
        limit = max(MIN_PER_TICK, math.ceil(2 * len(unsaved) * interval / every_s))
        return await self.checkpoint_many(self.due_by_time(now, every_s, limit, unsaved),
                                          "every-s")

    async def checkpoint_all(self, reason: str = "shutdown") -> int:
        """Checkpoint every model with unsaved learning (the others are skipped: their last
        checkpoint holds their state); a model that fails is logged and the others go on."""
        return await self.checkpoint_many(self.unsaved(), reason, tolerant=True)

    async def checkpoint_many(self, models, reason: str, tolerant: bool = False) -> int:
        """Checkpoint `models` ((tenant, name) pairs); each touched partition's watermark is
        computed and written once, after them all (a watermark written late is only lower,
        which is safe: recovery replays a little more). Returns the checkpoints written."""
        written, touched = 0, set()
        try:
            for tenant, name in models:
                try:
                    meta = await self.checkpoint(tenant, name, reason=reason, watermark=False)
                except Exception:
                    if not tolerant:
                        raise
                    log.exception("%s checkpoint of %s/%s failed", reason, tenant, name)
                    continue
                if meta is not None:
                    written += 1
                    touched.add(self.partition_of.get(tenant))
        finally:
            for partition in sorted(p for p in touched if p in self.partitions):
                # (a partition dropped meanwhile is another worker's: left as it is)
                await self.store.write_watermark(partition, self.watermark(partition))
        return written

    async def checkpoint(self, tenant: str, name: str, reason: str, parent: int | None = None,
                         watermark: bool = True) -> CheckpointMeta | None:
        """Write the model's state as its next checkpoint version; prune; move the watermark
        (unless `watermark` is false: `checkpoint_many` moves it once for a whole sweep)."""
        if (tenant, name) in self._writing or name not in self.progress.get(tenant, {}):
            return None
        self._writing.add((tenant, name))
        try:
            rt = self.rt
            slot, progress = self.progress[tenant][name]
            partition = self.partition_of[tenant]
            version = max(self.store.index.last_version(tenant, name), progress.version) + 1
            state = {**snapshot(slot, progress),
                     "deployment": self.models[tenant].deployment.to_dict()}
            if parent is None:
                parent = progress.version or None
            began = time.perf_counter()
            data = pickled(state)  # here, on the loop: the model must not change meanwhile
            offset, unsaved = progress.offset, progress.unsaved
            sealed = await asyncio.get_running_loop().run_in_executor(None, partial(
                seal_pickled, data, key=rt.settings.signing_key, tenant=tenant, model=name,
                version=version))
            metrics = {k: float(v) for k, v in slot.metrics().items() if v is not None}
            meta = CheckpointMeta(
                tenant=tenant, model=name, version=version, training_offset=offset,
                metrics=metrics, created_at=time.time(), size_bytes=sealed.size,
                signature=sealed.signature, parent_version=parent, role=slot.role,
                model_version=slot.version, reason=reason)
            await self.store.write(partition, sealed, meta)
            if progress.offset == offset:
                progress.saved(version)
            else:  # it learnt more while the bytes were being written
                progress.version = version
                progress.first_unsaved = offset + 1
                progress.unsaved -= unsaved
                self._note_unsaved(tenant, name, progress)
            self._saved_at[(tenant, name)] = time.monotonic()
            await self.store.prune(partition, tenant, name, rt.settings.checkpoint_keep)
            if watermark:
                await self.store.write_watermark(partition, self.watermark(partition))
            rt.metrics.checkpoint_written(sealed.size, meta.created_at)
            rt.stats.count("checkpoints", tenant)
            rt.stats.count(f"checkpoints.{reason}")
            rt.stats.counts["checkpoint_bytes"] += sealed.size
            rt.stats.counts["checkpoint_ms"] += round((time.perf_counter() - began) * 1000)
            return meta
        finally:
            self._writing.discard((tenant, name))

    def watermark(self, partition: int) -> int:
        """The training offset after which the partition must be replayed on recovery:
        `learning.progress.replay_from` of its models, kept incrementally (amortised
        O(log models), not a scan of the partition's models)."""
        held = self.partitions.get(partition, PartitionState())
        index = self._unsaved.get(partition)
        return held.next_offset - 1 if index is None else index.replay_from(
            held.next_offset - 1)

    def _note_unsaved(self, tenant: str, name: str, progress: ModelProgress) -> None:
        """`progress` has a new first unsaved record: index it under the tenant's partition."""
        partition = self.partition_of.get(tenant)
        if partition is None:  # dropped while its checkpoint was being written
            return
        index = self._unsaved.get(partition)
        if index is None:
            index = self._unsaved[partition] = UnsavedIndex(self._is_tracked)
        index.note((tenant, name), progress)

    def _is_tracked(self, key: tuple[str, str], progress: ModelProgress) -> bool:
        track = self.progress.get(key[0], {}).get(key[1])
        return track is not None and track[1] is progress

    async def read_training(self, partition: int, start: int, end: int):
        async for m in read_partition(self.rt.settings.bootstrap, self.training_topic,
                                      partition, start, end):
            try:
                yield m.offset, decode(Training, m.value, self.rt.limits)
            except InvalidRecord:
                continue  # dead-lettered when it was first consumed; never learnt


def _remember(memory: dict[str, OrderedDict], tenant: str, request_id: str, size: int) -> None:
    seen = memory.setdefault(tenant, OrderedDict())
    seen[request_id] = None
    if len(seen) > size:
        seen.popitem(last=False)


def _input(enriched: Enriched) -> dict:
    """What every model of the tenant sees: the event's features and the injected state."""
    return model_input(enriched.features, enriched.state, enriched.aggregates, enriched.context)
