"""An abrupt concept flip in one tenant raises drift for that tenant only, and its response."""

from __future__ import annotations

import asyncio
import time

import orjson

from kafka_io import produce, read_topic

from .conftest import fresh_env
from .scenarios import deployment, event, model, points

PRE, POST = 700, 700
MODELS = [model("logreg", "logreg", "champion"), model("tree", "hoeffding", "challenger"),
          model("baseline", "baseline", "canary")]


def test_abrupt_drift_in_one_tenant_triggers_its_response_only(kafka, start_workers, tmp_path):
    env = fresh_env()
    (tmp_path / "d.json").write_bytes(orjson.dumps({t: deployment(MODELS) for t in ("drifty", "steady")}))
    responses = orjson.dumps({"drifty": {"action": "reset"}, "*": {"action": "alert"}}).decode()
    _, pool = start_workers(env, [("serving", {}), ("fast", {})],
                            deployments_file=str(tmp_path / "d.json"),
                            drift_responses=responses, drift_warmup=300)
    xs = points(17, PRE + POST)
    records = []
    for i, p in enumerate(xs):
        flipped = i >= PRE
        records.append(event("drifty", f"d-{i}", f"e{i % 9}", time.time(), p,
                             label=(p["x"] > 0) != flipped))
        records.append(event("steady", f"s-{i}", f"e{i % 9}", time.time(), p, label=p["x"] > 0))
    asyncio.run(produce(kafka, f"{env}.events", records))

    drift = asyncio.run(read_topic(
        kafka, f"{env}.drift",
        lambda rs: any(d["model"] == "logreg" and d["signal"] == "error" for d in rs), timeout=180))
    assert {d["tenant"] for d in drift} == {"drifty"}
    detection = next(d for d in drift if d["model"] == "logreg" and d["signal"] == "error")
    assert detection["mean_after"] > detection["mean_before"]
    assert detection["training_offset"] >= 0

    answered = asyncio.run(read_topic(kafka, f"{env}.drift-responses",
                                      lambda rs: any(r.get("action") == "reset" for r in rs),
                                      timeout=120))
    resets = [r for r in answered if r.get("action") == "reset"]
    assert {r["tenant"] for r in answered} == {"drifty"}
    assert resets and resets[0]["model"] == "logreg"
    # The reset champion is retrained on the post-drift window the detection named, when
    # the new deployment reaches the pool with the tenant's next requests.
    assert detection["window_start"] is not None
    assert resets[0]["changes"]["reset"] == {"logreg": [1, 2]}
    later = points(18, 20)
    asyncio.run(produce(kafka, f"{env}.events", [
        event("drifty", f"d-late-{i}", "e0", time.time(), p, label=p["x"] <= 0)
        for i, p in enumerate(later)]))
    deadline = time.monotonic() + 60
    while pool.stats()["counts"].get("drift_retrains", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pool.stats()["counts"]["drift_retrains"] == 1
