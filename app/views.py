"""Web views of every worker: Prometheus metrics and the exact per-tenant ledger; on the
serving worker also the control and read API (`app.control_api`) and the model-ops page
(`app.ops_page`, at ``/ops/``)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .runtime import Runtime


def attach(rt: Runtime) -> None:
    app = rt.app
    rt.metrics.watch_tenants(rt.stats, rt.settings.metrics_tenant_labels)

    @app.page("/metrics")
    async def metrics(web, request):
        body = generate_latest(rt.metrics.registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/stats/")
    async def stats(web, request):
        return web.json(rt.stats.snapshot())

    if rt.settings.is_serving:
        from . import control_api, ops_page

        control_api.attach(rt)
        ops_page.attach(rt)
