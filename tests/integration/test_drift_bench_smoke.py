"""`make bench-drift`'s pipeline mode in miniature on the session's broker: one abrupt SEA
drift through real workers, an online and a reset tenant, and a stationary tenant beside them.
No timing is asserted: figures of a loaded test box mean nothing."""

from __future__ import annotations

import json

import pytest

from bench.drift import deployment
from bench.drift_pipeline import (Spec, analyse, in_process, report, run_pipeline,
                                  worker_settings, write)
from learning.drift import DriftConfig, DriftMonitor
from learning.tenant_models import TenantModels

from .conftest import fresh_env

pytest.importorskip("matplotlib",
                    reason="the bench extra is not installed: pip install -e '.[bench]'")

# The champion's error alarm comes 227 events after the drift (in process, below): the stream
# stops soon after it.
SPEC = Spec(gens=("SEA",), kinds=("abrupt",), variants=("online", "reset"), length=1400,
            drifts=(1000,), stationary=("SEA",), drift_warmup=300, response="reset")


def champion_alarms_in_process(data: list) -> list[int]:
    """Where the pools' own core, fed the stream in order, raises the champion's error alarm."""
    models = TenantModels(deployment(False), "fast")
    monitor = DriftMonitor("t", "classification", DriftConfig(warmup=SPEC.drift_warmup))
    found = []
    for i, (x, y) in enumerate(data):
        x = {str(k): float(v) for k, v in x.items()}
        models.learn_all(x, y)
        found += [i for d in monitor.observe_models(i, x, y, models)
                  if d.model == "champ" and d.signal == "error"]
    return found


@pytest.mark.integration
def test_drift_bench_pipeline_mode(kafka, start_workers, tmp_path):
    env = fresh_env()
    _, pool = start_workers(env, [("serving", {}), ("fast", {})],
                            **worker_settings(SPEC, tmp_path))
    # Served accuracy is not asserted: more requests in flight, for a shorter test.
    raw = run_pipeline(kafka, env, SPEC, pool, rate=500.0, in_flight=200)
    pipe = analyse(SPEC, raw)
    inp = in_process(SPEC, raw["streams"], fa_seeds=(1,), fa_length=3000, det_n=3000)
    write(tmp_path, report(SPEC, raw, pipe, inp, 0.0, 0.0), SPEC, pipe)

    events = 3 * SPEC.length
    assert raw["sent"]["events"] == events and len(raw["results"]) == events
    res = pipe["results"]
    assert (res["missing"], res["duplicates"]) == (0, 0)
    assert res["reasons"] == {"champion": events}  # the 30 s deadline never decides

    expected = champion_alarms_in_process(raw["streams"][("SEA", "abrupt", 1)])
    assert expected and expected[0] >= SPEC.drifts[0]
    tenants = pipe["tenants"]
    online = [p for p, m, s, *_ in tenants["SEA-abrupt-1-online"]["detections"]
              if m == "champ" and s == "error"]
    # Mapped from the training offset back to the tenant's own stream: the same position.
    assert online[0] == expected[0]
    assert pipe["delays"][0]["monitor"] == expected[0] - SPEC.drifts[0]
    resets = [(p, stage) for p, action, stage, _ in tenants["SEA-abrupt-1-reset"]["responses"]
              if action == "reset"]
    assert resets[0] == (expected[0], "detected")
    assert tenants["SEA-stationary-online"]["detections"] == []

    doc = json.loads((tmp_path / "drift.json").read_text())
    for key in ("detection_delay_ratio", "false_alarms_per_million", "served_acc_gain_pp",
                "recovery_ratio"):
        assert isinstance(doc[key], float), key
    assert set(doc["variants"]) == {"online", "reset"}
    assert doc["in_process"]["false_alarm_events"] == 3000
    assert "| served_acc_gain_pp (reset - online) |" in (tmp_path / "drift.md").read_text()
    assert (tmp_path / "drift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
