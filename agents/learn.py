"""learn: training -> each model of the pool predicts, updates its metric, learns; the
learner's effects (scores of an overtaking record, drift detections, checkpoints due) are
carried out.

Learning only ever comes from the training topic, so a model's state is a function of the
prefix of its tenant's training partition it has consumed (see learning.learner).
"""

from __future__ import annotations

import logging

from learning.deployment import DeploymentError
from schemas import Training

from .intake import intake
from .recovery import publish_drift, step
from .score import publish_scores

log = logging.getLogger(__name__)


async def learn(rt, training: Training, offset: int, partition: int) -> None:
    """One live training record, after its partition is ready."""
    pool = rt.pool
    held = pool.partitions[partition]
    if offset > held.next_offset and held.next_offset > 0:
        # Nothing should be skipped between recovery and the consumer; say so if it was.
        log.warning("training %d: offsets %d..%d were never seen", partition,
                    held.next_offset, offset - 1)
        rt.stats.count("training_gaps")
    learner = pool.learner(training.tenant, partition)
    effects = await step(pool, learner, partition, lambda: learner.learn(training, offset))
    if effects.duplicate:
        rt.stats.count("training_duplicates", training.tenant)
    # Taken before learning: a label never reaches a score.
    await publish_scores(rt, training.enriched, effects.scores)
    await publish_drift(rt, training.tenant, effects)
    held.next_offset = max(held.next_offset, offset + 1)
    if effects.learnt:
        rt.metrics.learned.inc(len(effects.learnt))
        rt.stats.count("learned", training.tenant)
    pool.publish_stats(training.tenant, effects.stats)
    for name in effects.checkpoints:
        await pool.checkpoints.write(training.tenant, name, reason="every-n")


def attach(rt) -> None:
    pool = rt.pool

    def check(training: Training) -> None:
        pool.resolver.parse(training.tenant, training.enriched.deployment)

    @rt.app.agent(rt.topics.training, name="learn")
    async def learn_agent(stream):
        async for message, training in intake(rt, stream, Training, "learn", check=check,
                                              rejects=(DeploymentError,)):
            await pool.ready(message.partition)
            try:
                await learn(rt, training, message.offset, message.partition)
            except DeploymentError as exc:  # a model the zoo cannot build after all
                await rt.dead_letter(message, exc, stage="learn")
