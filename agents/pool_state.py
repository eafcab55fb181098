"""What a model pool holds in memory: each tenant's models, and which requests they scored."""

from __future__ import annotations

import time
from collections import OrderedDict

from learning.enrichment import model_input
from learning.tenant_models import TenantModels
from schemas import Enriched, Score, encode

from .deployments import DeploymentResolver

SCORED_MEMORY = 100_000  # per tenant: far more than can be in flight between enrich and learn


class PoolState:
    def __init__(self, rt) -> None:
        self.rt = rt
        self.pool = rt.settings.role
        self.resolver = DeploymentResolver(rt)
        self.models: dict[str, TenantModels] = {}
        self._scored: dict[str, OrderedDict] = {}

    def models_for(self, enriched: Enriched) -> TenantModels:
        deployment = self.resolver.parse(enriched.tenant, enriched.deployment)
        models = self.models.get(enriched.tenant)
        if models is None:
            models = self.models[enriched.tenant] = TenantModels(deployment, self.pool)
        else:
            models.sync(deployment, self.pool)
        return models

    def was_scored(self, tenant: str, request_id: str) -> bool:
        return request_id in self._scored.get(tenant, ())

    def _mark_scored(self, tenant: str, request_id: str) -> None:
        seen = self._scored.setdefault(tenant, OrderedDict())
        seen[request_id] = None
        if len(seen) > SCORED_MEMORY:
            seen.popitem(last=False)

    async def score_and_publish(self, enriched: Enriched, models: TenantModels) -> None:
        """Every model of the tenant in this pool scores the request once; one record each."""
        rt = self.rt
        self._mark_scored(enriched.tenant, enriched.request_id)
        x = model_input(enriched.features, enriched.state, enriched.aggregates, enriched.context)
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
