"""The bench's pure parts: workload, percentiles, profile summary and the report files."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest

from bench.driver import percentile
from bench.profile import summarise
from bench.report import TARGETS, write
from bench.workload import Workload

REQUIRED = ["pipeline_eps", "ml_ceiling_eps", "pipeline_vs_ml_ceiling", "core_vs_quix",
            "core_vs_bytewax", "p99_ms_at_25pct", "p999_ms_at_25pct", "tenants_10k_rss_gib",
            "tenants_10k_vs_1"]


def test_the_workload_is_the_same_stream_for_every_system():
    wl = Workload(tenants=3, entities=4)
    a, b = wl.events(50, "max"), wl.events(50, "max")
    assert a == b
    assert wl.events(50, "other") != a
    assert {e["request_id"] for e in a} == {f"max-{i}" for i in range(50)}
    assert all(isinstance(e["label"], bool) and len(e["features"]) == 6 for e in a)
    warm = wl.events(3, "warm", every_tenant_first=True)
    assert [e["tenant"] for e in warm] == wl.tenant_names()
    updates = wl.state_updates()
    assert len(updates) == 12
    key, value = updates[0]
    assert orjson.loads(value)["tenant"].encode() == key


def test_percentile_is_nearest_rank():
    values = list(range(1, 1001))
    assert percentile(values, 50) == 500
    assert percentile(values, 99) == 990
    assert percentile(values, 99.9) == 999
    assert percentile([7.0], 99.9) == 7.0
    assert percentile([], 50) is None


def test_profile_summary_splits_project_from_libraries(tmp_path):
    raw = tmp_path / "p.raw"
    raw.write_text(
        "<module> (faust/__main__.py:6);enrich_event (agents/enrich_event.py:40);"
        "decode (schemas/codec.py:80) 30\n"
        "<module> (faust/__main__.py:6);Stream._c_aiter (faust/streams.py:900) 60\n"
        "<module> (faust/__main__.py:6);select (selectors.py:468) 10\n")
    text, summary = summarise(raw)
    assert summary["samples"] == 100
    assert summary["areas"] == {"faust": 0.6, "rendezvous:schemas": 0.3, "asyncio": 0.1}
    assert summary["top_project_inclusive"][0] == ["enrich_event (agents/enrich_event.py)", 0.3]
    assert "decode (schemas/codec.py)" in text


def _fake_bench():
    def system(eps):
        return {"eps": eps, "events": 100, "received": 100, "seconds": 100 / eps,
                "cpu_s_per_1k": 1.0, "cpu_util": 0.5, "peak_rss_mib": 100.0, "processes": 1,
                "reasons": {}}

    latency = [{"pct_of_max": p, "offered_eps": p, "achieved_eps": p, "events": 10,
                "received": 10, "p50_ms": 1.0, "p99_ms": 5.0, "p999_ms": 9.0,
                "e2e_p50_ms": 2.0, "e2e_p99_ms": 6.0, "e2e_p999_ms": 10.0, "max_ms": 9.0,
                "reasons": {"champion": 10}} for p in (10, 25, 50, 90)]
    scale = [{"tenants": t, "eps": 100.0 - t / 1000, "pool_rss_gib": 0.1 * (1 + t / 1000),
              "serving_rss_gib": 0.1, "cpu_s_per_1k": 1.0} for t in (1, 100, 1000, 10000)]
    return SimpleNamespace(
        systems={"ml_ceiling": system(1000.0), "aiokafka": system(5000.0),
                 "pipeline": system(500.0), "ml_ceiling_core": system(3000.0),
                 "rendezvous_core": system(900.0), "quix": system(800.0),
                 "bytewax": system(1200.0)},
        latency=latency, scale=scale, hops={"lat25": {"enrich (events -> enriched)":
                                                    {"n": 10, "p50_ms": 1.0, "p99_ms": 2.0}}},
        profile_summary={"serving": {"samples": 10, "areas": {"faust": 1.0}}},
        profile_text="== serving\n", errors={})


def test_the_report_has_every_figure_the_issue_names(tmp_path):
    meta = {"quick": False, "cpus": 2, "loadavg_before": (1.0, 1.0, 1.0),
            "loadavg_after": (1.0, 1.0, 1.0), "seconds": 60.0}
    doc = write(tmp_path, _fake_bench(), meta)
    saved = orjson.loads((tmp_path / "bench.json").read_bytes())
    assert saved["pipeline_vs_ml_ceiling"] == pytest.approx(0.5)
    assert saved["core_vs_quix"] == pytest.approx(900 / 800)
    assert saved["core_vs_bytewax"] == pytest.approx(0.75)
    assert saved["p99_ms_at_25pct"] == 5.0 and saved["p999_ms_at_25pct"] == 9.0
    assert saved["tenants_10k_vs_1"] == pytest.approx(90.0 / 99.999)
    assert saved["tenants_10k_rss_gib"] == pytest.approx(1.1)
    assert all(key in saved for key in REQUIRED)
    assert set(saved["targets"]) == set(TARGETS)
    assert saved["targets"]["core_vs_bytewax"]["reached"] is False
    md = (tmp_path / "bench.md").read_text()
    assert "| (c) Rendezvous full pipeline | 500 | 1.00 |" in md
    assert "| core_vs_bytewax | 0.75 | >= 1.0 | **no** |" in md
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "profile.txt").read_text().startswith("== serving")
    assert doc["errors"] == {}
