"""The decoy logs what models consumed, byte for byte; a decoy replay feeds staging; compare."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import orjson

from kafka_io import produce, read_topic

from .conftest import REPO, fresh_env
from .scenarios import deployment, event, model, points

N = 1000
TENANTS = ("north", "south")
PROD = {t: deployment([model("logreg", "logreg", "champion"), model("baseline", "baseline", "canary")])
        for t in TENANTS}
STAGING = {t: deployment([model("logreg", "logreg", "champion"),
                          model("candidate", "hoeffding", "challenger", pool="heavy", grace_period=30),
                          model("baseline", "baseline", "canary")]) for t in TENANTS}


def cli(kafka: str, env: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "faust", "-A", "app", *args], cwd=REPO, capture_output=True,
        text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "RENDEZVOUS_BROKER": f"kafka://{kafka}",
             "RENDEZVOUS_ENV": env})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_decoy_replay_into_staging_and_compare(kafka, start_workers, tmp_path):
    prod, staging = fresh_env(), fresh_env()
    (tmp_path / "prod.json").write_bytes(orjson.dumps(PROD))
    (tmp_path / "staging.json").write_bytes(orjson.dumps(STAGING))
    start_workers(prod, [("serving", {}), ("fast", {}), ("heavy", {})],
                  deployments_file=str(tmp_path / "prod.json"))
    xs = points(8, N // 2)
    records = [event(t, f"{t}-{i}", f"e{i % 10}", time.time(), p,
                     label=(p["x"] > 0) if t == "north" else (p["y"] > 0))
               for i, p in enumerate(xs) for t in TENANTS]
    asyncio.run(produce(kafka, f"{prod}.events", records))
    prod_results = asyncio.run(read_topic(kafka, f"{prod}.results", lambda rs: len(rs) >= N))
    decoy = asyncio.run(read_topic(kafka, f"{prod}.decoy-log", lambda rs: len(rs) >= N))
    enriched = asyncio.run(read_topic(kafka, f"{prod}.enriched", lambda rs: len(rs) >= N,
                                      decode=None))
    assert len(prod_results) == N

    # The decoy logged exactly the bytes the pools consumed from the enriched topic.
    consumed = {orjson.loads(m.value)["request_id"]: m.value for m in enriched}
    assert len(decoy) == len(consumed) == N
    assert all(d["enriched"].encode() == consumed[d["request_id"]] for d in decoy)
    assert {tuple(sorted(d["model_versions"].items())) for d in decoy} == {
        (("baseline", 1), ("logreg", 1))}

    out = cli(kafka, prod, "replay", "--source", "decoy-log", "--target-env", staging)
    assert f"replayed {N} records into {staging} (0 skipped)" in out

    start_workers(staging, [("serving", {"accept_replayed": "true"}), ("fast", {}), ("heavy", {})],
                  deployments_file=str(tmp_path / "staging.json"))
    staging_results = asyncio.run(read_topic(kafka, f"{staging}.results",
                                             lambda rs: len(rs) >= N))
    assert sorted(r["request_id"] for r in staging_results) == sorted(
        r["request_id"] for r in prod_results)
    staging_enriched = asyncio.run(read_topic(kafka, f"{staging}.enriched",
                                              lambda rs: len(rs) >= N))
    prod_inputs = {orjson.loads(v)["request_id"]: orjson.loads(v) for v in consumed.values()}
    fields = ("features", "state", "state_version", "aggregates", "context", "context_version")
    assert all({f: e[f] for f in fields} == {f: prod_inputs[e["request_id"]][f] for f in fields}
               for e in staging_enriched)

    # Every candidate score must be in before comparing (the candidate lives in the heavy pool).
    asyncio.run(read_topic(kafka, f"{staging}.scores",
                           lambda rs: sum(s["model"] == "candidate" for s in rs) >= N))
    out = cli(kafka, prod, "compare", "--env", staging, "--json-out", str(tmp_path / "c.json"))
    report = orjson.loads((tmp_path / "c.json").read_bytes())
    assert report["requests_compared"] == N
    for tenant in TENANTS:
        models = report["tenants"][tenant]["models"]
        assert (models["candidate"]["prod_n"], models["candidate"]["staging_n"]) == (0, N // 2)
        assert models["candidate"]["staging_accuracy"] is not None
        assert models["candidate"]["difference"] is None  # a candidate has no production score
        assert models["logreg"]["prod_n"] == models["logreg"]["staging_n"] == N // 2
        assert report["tenants"][tenant]["served"]["labelled"] == N // 2
    assert "candidate" in out
