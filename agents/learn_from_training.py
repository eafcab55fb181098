"""learn_from_training: training -> each model of the pool predicts, updates its metric, learns;
models due for a checkpoint are checkpointed.

Learning only ever comes from the training topic, so a model's state is a function of the
prefix of its tenant's training partition it has consumed (see agents.pool_state).
"""

from __future__ import annotations

from learning.deployment import DeploymentError
from schemas import InvalidRecord, Training, decode


def attach(rt) -> None:
    pool = rt.pool

    @rt.app.agent(rt.topics.training, name="learn_from_training")
    async def learn_from_training(stream):
        async for event in stream.events():
            message = event.message
            try:
                training = decode(Training, message.value, rt.limits)
                # A label must never reach a score: a record that overtook its enriched
                # record is scored here, before it is learnt, and the enriched one is skipped.
                await pool.learn(training, message.offset, message.partition)
            except (InvalidRecord, DeploymentError) as exc:
                await rt.dead_letter(message, exc, stage="learn")
                continue
