"""log_decoy: the decoy model. It only logs each enriched record, byte for byte, to decoy-log."""

from __future__ import annotations

import time

from learning.deployment import DeploymentError
from schemas import DecoyEntry, Enriched, InvalidRecord, decode, encode


def attach(rt) -> None:
    @rt.app.agent(rt.topics.enriched, name="log_decoy")
    async def log_decoy(stream):
        async for event in stream.events():
            raw = event.message.value
            try:
                enriched = decode(Enriched, raw, rt.limits)
                deployment = rt.deployments.parse(enriched.tenant, enriched.deployment)
            except (InvalidRecord, DeploymentError) as exc:
                await rt.dead_letter(event.message, exc, stage="decoy")
                continue
            versions = {m.name: m.version for m in deployment.models}
            entry = DecoyEntry(tenant=enriched.tenant, request_id=enriched.request_id,
                               enriched=raw.decode(), model_versions=versions,
                               logged_at=time.time())
            await rt.topics.decoy_log.send(key=event.message.key, value=encode(entry))
