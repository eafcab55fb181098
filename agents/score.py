"""score: enriched -> scores, for every model of the tenant deployed to this pool."""

from __future__ import annotations

import time

from learning.deployment import DeploymentError
from schemas import Enriched, Score, encode

from .intake import intake


async def publish_scores(rt, enriched, scores) -> None:
    """One ``scores`` record per model's answer."""
    key = enriched.tenant.encode()
    for s in scores:
        score = Score(tenant=enriched.tenant, request_id=enriched.request_id, model=s.model,
                      version=s.version, role=s.role, pool=rt.settings.role, output=s.output,
                      proba=s.proba, error=s.error, latency_ms=s.latency_ms,
                      scored_at=time.time())
        await rt.topics.scores.send(key=key, value=encode(score))
        rt.metrics.scores.labels(s.role, "error" if s.error else "ok").inc()
        rt.metrics.scoring_latency.labels(s.role).observe(s.latency_ms / 1000.0)
        rt.stats.count("scores", enriched.tenant)


def attach(rt) -> None:
    pool = rt.pool

    def check(enriched: Enriched) -> None:
        pool.resolver.parse(enriched.tenant, enriched.deployment)

    @rt.app.agent(rt.topics.enriched, name="score")
    async def score(stream):
        async for message, enriched in intake(rt, stream, Enriched, "score", check=check,
                                              rejects=(DeploymentError,)):
            # Waits for the partition's recovery: never score with a model not yet restored.
            await pool.ready(message.partition)
            learner = pool.learner(enriched.tenant, message.partition)
            try:
                scores = learner.score(enriched)
            except DeploymentError as exc:  # a model the zoo cannot build after all
                await rt.dead_letter(message, exc, stage="score")
                continue
            # Nothing if its training record overtook it: the models scored it then.
            await publish_scores(rt, enriched, scores)
