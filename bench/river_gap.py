"""How far served accuracy falls below River's progressive validation under full-speed load.

One tenant, one seeded logistic regression, inline labels, every event produced at once:
the pipeline serves each request with the model as it stood when the request was scored,
which under load is several labels behind; ``river.evaluate.iter_progressive_val_score``
on the same enriched inputs is the zero-lag reference. Writes $BENCH_OUT/river_gap.json.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import orjson
from river import evaluate, metrics

from harness.faults import Cluster
from kafka_io import produce, read_topic
from learning.enrichment import model_input
from learning.zoo import build

REPO = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("BENCH_OUT", REPO / "bench" / "results"))
N = int(os.environ.get("RIVER_GAP_EVENTS", "3000"))
DEPLOYMENT = {"solo": {"task": "classification", "version": 1,
                       "models": [{"name": "logreg", "spec": "logreg", "params": {},
                                   "role": "champion", "pool": "fast", "version": 1}],
                       "policy": {"deadline_ms": 60000, "fallback": [], "ab_model": None,
                                  "ab_split": 0.0, "default_output": None}}}


def main() -> dict:
    root = REPO / "var" / "river-gap"
    root.mkdir(parents=True, exist_ok=True)
    (root / "deployments.json").write_bytes(orjson.dumps(DEPLOYMENT))
    cluster = Cluster(root, 19892, f"rg{os.getpid() % 1000}", roles=("serving", "fast"),
                      web_port_base=17100,
                      settings={"deployments_file": str(root / "deployments.json")}).start()
    try:
        rng = random.Random(3)
        xs = [{"x": rng.uniform(-1, 1), "y": rng.uniform(-1, 1)} for _ in range(N)]
        labels = [p["x"] + 0.3 * p["y"] > 0 for p in xs]
        records = [(b"solo", orjson.dumps({"tenant": "solo", "request_id": f"r{i}", "entity": "e",
                                           "ts": time.time(), "features": p, "label": y}))
                   for i, (p, y) in enumerate(zip(xs, labels))]
        began = time.monotonic()
        asyncio.run(produce(cluster.bootstrap, f"{cluster.env}.events", records))
        results = {r["request_id"]: r for r in asyncio.run(read_topic(
            cluster.bootstrap, f"{cluster.env}.results", lambda rs: len(rs) >= N, timeout=600))}
        seconds = time.monotonic() - began
        enriched = {e["request_id"]: e for e in asyncio.run(read_topic(
            cluster.bootstrap, f"{cluster.env}.enriched", lambda rs: len(rs) >= N))}
    finally:
        cluster.stop()
    stream = [(model_input(e["features"], e["state"], e["aggregates"], e["context"]), labels[i])
              for i, e in ((i, enriched[f"r{i}"]) for i in range(N))]
    reference = [s["Prediction"] for s in evaluate.iter_progressive_val_score(
        stream, build("logreg", "classification"), metrics.Accuracy(), yield_predictions=True)]
    served = [results[f"r{i}"]["output"] for i in range(N)]
    report = {
        "events": N, "seconds": round(seconds, 1), "events_per_s": round(N / seconds, 1),
        "served_accuracy": round(sum(s == y for s, y in zip(served, labels)) / N, 4),
        "river_progressive_accuracy": round(sum(r == y for r, y in zip(reference, labels)) / N, 4),
        "agreement": round(sum(s == r for s, r in zip(served, reference)) / N, 4),
    }
    report["gap_pp"] = round(100 * (report["river_progressive_accuracy"] - report["served_accuracy"]), 2)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "river_gap.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(report).decode())
    return report


if __name__ == "__main__":
    main()
