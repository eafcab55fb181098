"""`make bench` in miniature (BENCH_QUICK=1) on the session's broker: every phase runs and the
report is well formed. No timing is asserted: figures of a loaded test box mean nothing."""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
# `make test` installs the bench extra: a missing one is a failure, not a skip.
for module in ("quixstreams", "bytewax", "psutil", "confluent_kafka", "matplotlib"):
    importlib.import_module(module)

FIGURES = ["pipeline_eps", "ml_ceiling_eps", "pipeline_vs_ml_ceiling", "core_vs_quix",
           "core_vs_bytewax", "p99_ms_at_25pct", "p999_ms_at_25pct"]


@pytest.mark.integration
def test_quick_bench_writes_a_well_formed_report(kafka, tmp_path):
    env = {**os.environ, "BENCH_QUICK": "1", "BENCH_BOOTSTRAP": kafka, "BENCH_OUT": str(tmp_path),
           "BENCH_ENV_PREFIX": f"bq{os.getpid() % 10000}",
           "BENCH_WEB_PORT_BASE": str(int(os.environ.get("TEST_WEB_PORT_BASE", "16100")) + 700)}
    proc = subprocess.run([sys.executable, "-m", "bench.run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    doc = orjson.loads((tmp_path / "bench.json").read_bytes())
    assert doc["errors"] == {}
    for key in FIGURES:
        assert isinstance(doc[key], float) and math.isfinite(doc[key]) and doc[key] > 0, key
    for key in ("tenants_10k_rss_gib", "tenants_10k_vs_1"):  # a quick run stops below 10k tenants
        assert key in doc
    assert doc["tenants_max_rss_gib"] > 0 and doc["tenants_max_vs_1"] > 0
    for name in ("ml_ceiling", "aiokafka", "pipeline", "rendezvous_core", "quix", "bytewax"):
        row = doc["systems"][name]
        assert row["received"] == row["events"] > 0
        assert row["cpu_s_per_1k"] >= 0 and row["peak_rss_mib"] > 0
    assert [r["pct_of_max"] for r in doc["latency"]] == [10, 25, 50, 90]
    assert all(r["received"] == r["events"] for r in doc["latency"])
    assert {"serving", "fast", "heavy"} <= set(doc["profile"])
    assert "## Throughput" in (tmp_path / "bench.md").read_text()
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "self time by area" in (tmp_path / "profile.txt").read_text()
