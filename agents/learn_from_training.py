"""learn_from_training: training -> each model of the pool predicts, updates its metric, learns.

Learning only ever comes from the training topic, so a model's state is a function of the
prefix of its tenant's training partition it has consumed.
"""

from __future__ import annotations

from learning.deployment import DeploymentError
from learning.enrichment import model_input
from schemas import InvalidRecord, Training, decode


def attach(rt) -> None:
    pool = rt.pool

    @rt.app.agent(rt.topics.training, name="learn_from_training")
    async def learn_from_training(stream):
        async for event in stream.events():
            try:
                training = decode(Training, event.message.value, rt.limits)
                models = pool.models_for(training.enriched)
            except (InvalidRecord, DeploymentError) as exc:
                await rt.dead_letter(event.message, exc, stage="learn")
                continue
            if not models.slots:
                continue
            enriched = training.enriched
            # A label must never reach a score: if this record overtook its enriched
            # record, score now, before learning, and the enriched record is skipped later.
            if not pool.was_scored(enriched.tenant, enriched.request_id):
                await pool.score_and_publish(enriched, models)
            x = model_input(enriched.features, enriched.state, enriched.aggregates,
                            enriched.context)
            models.learn_all(x, training.label)
            rt.metrics.learned.inc(len(models.slots))
            rt.stats.count("learned", enriched.tenant)
            rt.stats.models[enriched.tenant] = {name: {**slot.metrics(), "version": slot.version, "role": slot.role}
                                                for name, slot in models.slots.items()}
