"""decoy: the decoy model. It only logs each enriched record, byte for byte, to decoy-log,
with the model versions active then: production's debugging record and staging's replay."""

from __future__ import annotations

import time

from learning.deployment import DeploymentError
from schemas import DecoyEntry, Enriched, encode

from .intake import intake


def attach(rt) -> None:
    def parses(enriched: Enriched) -> None:
        rt.deployments.parse(enriched.tenant, enriched.deployment)

    @rt.app.agent(rt.topics.enriched, name="log_decoy")
    async def log_decoy(stream):
        async for message, enriched in intake(rt, stream, Enriched, stage="decoy", check=parses,
                                              rejects=(DeploymentError,)):
            deployment = rt.deployments.parse(enriched.tenant, enriched.deployment)
            entry = DecoyEntry(tenant=enriched.tenant, request_id=enriched.request_id,
                               enriched=message.value.decode(),
                               model_versions={m.name: m.version for m in deployment.models},
                               logged_at=time.time())
            await rt.topics.decoy_log.send(key=message.key, value=encode(entry))
