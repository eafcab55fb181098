"""(a) The ML-only ceiling: the same models' predict + learn over the same events, in a plain loop.

Run as its own process (``python -m bench.mlloop '<json args>'``) so that its CPU time and peak
RSS are its own; prints one JSON line. Enrichment (entity state, rolling aggregates) is computed
before the clock starts: the ceiling is the River work and `model_input`, nothing else.
"""

from __future__ import annotations

import resource
import sys
import time

import orjson

from bench.workload import Workload
from learning.deployment import Deployment, default_deployment
from learning.enrichment import RollingWindow, model_input
from learning.tenant_models import TenantModels


def prepare(workload: Workload, events: list[dict]) -> list[tuple[dict, dict, dict]]:
    states = {}
    for _, value in workload.state_updates():
        u = orjson.loads(value)
        states[(u["tenant"], u["entity"])] = u["values"]
    rolling = RollingWindow(300.0, 10)
    windows: dict = {}
    out = []
    for i, ev in enumerate(events):
        key = (ev["tenant"], ev["entity"])
        ts = 1_700_000_000.0 + i * 0.002
        windows[key], aggregates = rolling.step(windows.get(key), ts, ev["features"])
        out.append((ev, states.get(key, {}), aggregates))
    return out


def main(args: dict) -> dict:
    workload = Workload(args["tenants"], args["entities"], seed=args.get("seed", 7))
    deployment = (Deployment.from_dict(args["deployment"]) if args.get("deployment")
                  else default_deployment(deadline_ms=10_000.0))
    pools = sorted({m.pool for m in deployment.models})
    warm = workload.events(args["warmup"], "warm", every_tenant_first=True)
    timed = workload.events(args["events"], "max")
    models: dict[tuple[str, str], TenantModels] = {}

    def run(prepared):
        for ev, state, aggregates in prepared:
            tenant = ev["tenant"]
            x = model_input(ev["features"], state, aggregates, {})
            mine = []
            for pool in pools:
                m = models.get((tenant, pool))
                if m is None:
                    m = models[(tenant, pool)] = TenantModels(deployment, pool)
                mine.append(m)
            for m in mine:  # every model scores (serving the request) ...
                m.score_all(x)
            for m in mine:  # ... then learns it from the inline label
                m.learn_all(x, ev["label"])

    run(prepare(workload, warm))
    prepared = prepare(workload, timed)
    cpu0, t0 = time.process_time(), time.perf_counter()
    run(prepared)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {"events": len(timed), "seconds": seconds, "eps": len(timed) / seconds,
            "cpu_s": cpu, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "models": [m.name for m in deployment.models]}


if __name__ == "__main__":
    # One process, several runs (one import of River): each run has its own models.
    print(orjson.dumps([main(a) for a in orjson.loads(sys.argv[1])]).decode())
