"""score_enriched: enriched -> scores, for every model of the tenant deployed to this pool."""

from __future__ import annotations

from learning.deployment import DeploymentError
from schemas import Enriched, InvalidRecord, decode


def attach(rt) -> None:
    pool = rt.pool

    @rt.app.agent(rt.topics.enriched, name="score_enriched")
    async def score_enriched(stream):
        async for event in stream.events():
            try:
                enriched = decode(Enriched, event.message.value, rt.limits)
                # Waits for the partition's recovery: never score with a model not yet restored.
                models = await pool.models_for(enriched, event.message.partition)
            except (InvalidRecord, DeploymentError) as exc:
                await rt.dead_letter(event.message, exc, stage="score")
                continue
            # Its training record overtook it: the models scored it then, before learning.
            if models.slots and not pool.was_scored(enriched.tenant, enriched.request_id):
                await pool.score_and_publish(enriched, models)
