"""A model pool app: score and learn for the models deployed to this pool, checkpoint them,
and recover them when a training partition is assigned.

`Pool` holds the per-partition side: which tenants' learners (`learning.learner`) live on
which training partition, where each partition stands, and its recovery on assignment.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial

from aiokafka.errors import KafkaError

from kafka_io import committed_offset
from learning.drift import DriftConfig
from learning.learner import TenantLearner
from learning.progress import ModelProgress, UnsavedIndex
from tables.checkpoints import CheckpointStore

from . import checkpoints, learn, recovery, score
from .deployments import DeploymentResolver

log = logging.getLogger(__name__)


@dataclass
class PartitionState:
    next_offset: int = 0  # the next training offset this worker expects
    stale: bool = False  # revoked: another worker may have moved it on since
    tenants: set = field(default_factory=set)


class Pool:
    """The tenants' learners of one pool process, by training partition."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.name = rt.settings.role
        self.resolver = DeploymentResolver(rt)
        self.training_topic = rt.settings.topic("training")
        self.learners: dict[str, TenantLearner] = {}
        self.partition_of: dict[str, int] = {}
        self.partitions: dict[int, PartitionState] = {}
        self.store = CheckpointStore(rt)
        self.checkpoints = checkpoints.Checkpoints(self)
        self.recoveries: list[dict] = []
        self._to_check: set[int] = set()  # assigned, not yet checked against the group offset
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._unsaved: dict[int, UnsavedIndex] = {}  # partition -> its earliest unsaved record

    def learner(self, tenant: str, partition: int) -> TenantLearner:
        """The tenant's learner, placed on `partition`."""
        self.partition_of[tenant] = partition
        self.partitions.setdefault(partition, PartitionState()).tenants.add(tenant)
        found = self.learners.get(tenant)
        if found is None:
            found = self.learners[tenant] = TenantLearner(
                tenant, self.name, every_n=self.rt.settings.checkpoint_every_n,
                drift=DriftConfig(warmup=self.rt.settings.drift_warmup),
                parse=partial(self.resolver.parse, tenant),
                on_unsaved=partial(self._note_unsaved, tenant))
        return found

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
            backoff = 0.5
            while True:
                recovering = False
                try:
                    committed = await committed_offset(self.rt.settings.bootstrap,
                                                       self.rt.settings.app_id,
                                                       self.training_topic, partition)
                    held = self.partitions.get(partition)
                    if held is not None and committed == held.next_offset:
                        held.stale = False  # came back untouched: the models are current
                    else:
                        recovering = True
                        self._drop(partition)
                        self.recoveries.append(await recovery.recover(self, partition, committed))
                    break
                except (KafkaError, OSError) as exc:
                    # The broker is down or restarting: wait for it rather than crash the
                    # agents; a half-done recovery is dropped and redone from the start.
                    log.warning("recovery of training partition %d waits for Kafka: %r",
                                partition, exc)
                    if recovering:
                        self._drop(partition)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
            self._to_check.discard(partition)

    def resume_at(self, partition: int, offset: int) -> None:
        """Recovery is done: the consumer goes on from `offset`."""
        self.partitions.setdefault(partition, PartitionState()).next_offset = offset

    def _drop(self, partition: int) -> None:
        held = self.partitions.pop(partition, None)
        self._unsaved.pop(partition, None)
        for tenant in (held.tenants if held else ()):
            self.learners.pop(tenant, None)
            self.partition_of.pop(tenant, None)
            self.rt.stats.models.pop(tenant, None)

    def publish_stats(self, tenant: str, stats: dict | None = None) -> None:
        learner = self.learners.get(tenant)
        stats = stats if stats is not None else (learner.stats() if learner else None)
        if stats is not None:
            self.rt.stats.models[tenant] = stats

    def watermark(self, partition: int) -> int:
        """The training offset after which the partition must be replayed on recovery:
        `learning.progress.replay_from` of its models, kept incrementally (amortised
        O(log models), not a scan of the partition's models)."""
        held = self.partitions.get(partition, PartitionState())
        index = self._unsaved.get(partition)
        return held.next_offset - 1 if index is None else index.replay_from(
            held.next_offset - 1)

    def _note_unsaved(self, tenant: str, name: str, progress: ModelProgress) -> None:
        partition = self.partition_of.get(tenant)
        if partition is None:  # dropped while its checkpoint was being written
            return
        index = self._unsaved.get(partition)
        if index is None:
            index = self._unsaved[partition] = UnsavedIndex(self.is_tracked)
        index.note((tenant, name), progress)

    def is_tracked(self, key: tuple[str, str], progress: ModelProgress) -> bool:
        learner = self.learners.get(key[0])
        return learner is not None and learner.is_tracked(key[1], progress)


def attach(rt) -> None:
    rt.pool = pool = Pool(rt)
    score.attach(rt)
    learn.attach(rt)
    checkpoints.attach(rt)

    @rt.app.on_partitions_revoked.connect
    async def on_revoked(app, revoked, **kwargs):
        pool.revoked({tp.partition for tp in revoked if tp.topic == pool.training_topic})

    @rt.app.on_partitions_assigned.connect
    async def on_assigned(app, assigned, **kwargs):
        pool.assigned({tp.partition for tp in assigned if tp.topic == pool.training_topic})
