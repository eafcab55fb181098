"""Read-only web views of every worker: Prometheus metrics and the exact per-tenant ledger."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .runtime import Runtime


def attach(rt: Runtime) -> None:
    app = rt.app

    @app.page("/metrics")
    async def metrics(web, request):
        body = generate_latest(rt.metrics.registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/stats/")
    async def stats(web, request):
        return web.json(rt.stats.snapshot())
