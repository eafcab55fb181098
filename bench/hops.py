"""Where a request's latency goes, hop by hop, from the records' own timestamps:
event ts -> enriched_at (serving: enrich) -> scored_at (pool: score) -> decided_at (serving:
rendezvous). All processes run on this machine, so their clocks agree."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bench.driver import percentile
from kafka_io import read_all


def hop_latencies(bootstrap: str, env: str, prefixes: list[str]) -> dict:
    """{prefix: {hop: {p50, p99}}} for requests whose id starts with ``<prefix>-``."""

    def mine(r) -> str | None:
        rid = r.get("request_id", "")
        tag = rid.split("-", 1)[0]
        return tag if tag in prefixes else None

    async def load_all():
        return await asyncio.gather(*(read_all(bootstrap, f"{env}.{t}", quiet_s=1.0, timeout=120)
                                      for t in ("enriched", "scores", "results")))

    enriched, scores, results = asyncio.run(load_all())
    enr = {r["request_id"]: r for r in enriched if mine(r)}
    res = {r["request_id"]: r for r in results if mine(r)}
    scored: dict[str, dict] = defaultdict(dict)
    for s in scores:
        if mine(s):
            # The last one wins, as for enriched and results: a re-used environment's older
            # run of the same request id comes first in each partition.
            scored[s["request_id"]][s["model"]] = s["scored_at"]
    hops: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for rid, r in res.items():
        e = enr.get(rid)
        if e is None:
            continue
        tag = mine(r)
        h = hops[tag]
        h["enrich (events -> enriched)"].append((e["enriched_at"] - e["ts"]) * 1000)
        champion_at = scored.get(rid, {}).get(r.get("model"))
        if champion_at is not None:
            h["score (enriched -> champion's score)"].append((champion_at - e["enriched_at"]) * 1000)
            h["rendezvous (score -> result)"].append((r["decided_at"] - champion_at) * 1000)
        h["total (ts -> decided_at)"].append((r["decided_at"] - e["ts"]) * 1000)
    return {tag: {hop: {"n": len(v), "p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99)}
                  for hop, v in h.items()} for tag, h in hops.items()}
