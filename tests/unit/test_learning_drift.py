"""DriftMonitor: exact detections on seeded streams, none on stationary ones."""

from __future__ import annotations

import random

import msgspec
import pytest

from learning.deployment import default_deployment
from learning.drift import DriftConfig, DriftMonitor, Watch
from learning.tenant_models import TenantModels

ROLES = {"champ": "champion", "tree": "challenger", "canary": "canary"}


def error_stream(seed: int, n: int, change: int | None, before: float, after: float):
    rng = random.Random(seed)
    return [float(rng.random() < (after if change is not None and t >= change else before))
            for t in range(n)]


def run(monitor, errors_by_model, xs=None, offset0=0):
    found = []
    n = len(next(iter(errors_by_model.values())))
    for t in range(n):
        x = xs[t] if xs else {}
        errors = {m: e[t] for m, e in errors_by_model.items()}
        found += monitor.observe(offset0 + t, x, errors, roles=ROLES)
    return found


def test_abrupt_error_change_is_detected_at_an_exact_offset_within_a_bound():
    monitor = DriftMonitor("acme", "classification", DriftConfig(warmup=500))
    errs = error_stream(seed=3, n=8000, change=4000, before=0.1, after=0.35)
    found = run(monitor, {"champ": errs}, offset0=100)
    assert [(d.model, d.signal, d.training_offset) for d in found] == [("champ", "error", 4183)]
    d = found[0]
    assert 0 < d.training_offset - 4100 <= 300  # within 300 events of the change
    assert d.mean_before == pytest.approx(0.1, abs=0.02)
    assert d.mean_after > d.mean_before
    assert d.n_before + d.n_after > 1000
    record = msgspec.structs.asdict(msgspec.structs.replace(d, detected_at=12.0))
    assert record == {"tenant": "acme", "model": "champ", "signal": "error",
                      "training_offset": 4183, "n_before": d.n_before, "n_after": d.n_after,
                      "mean_before": d.mean_before, "mean_after": d.mean_after,
                      "detected_at": 12.0, "position": 4084,  # the tenant's 4084th example
                      "window_start": 4183 - d.n_after + 1}  # offsets here are consecutive
    assert d.n_after <= 1000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_detection_on_a_stationary_stream(seed):
    monitor = DriftMonitor("acme", "classification")
    rng = random.Random(seed)
    n = 100_000
    errs = {"champ": error_stream(seed, n, None, 0.2, 0.2),
            "tree": error_stream(seed + 10, n, None, 0.05, 0.05),
            "canary": error_stream(seed + 20, n, None, 0.5, 0.5)}
    xs = [{"a": rng.gauss(0, 1), "b": rng.lognormvariate(0, 1), "c": float(rng.randrange(5))}
          for _ in range(n)]
    assert run(monitor, errs, xs) == []
    assert set(monitor.features) == {"a", "b", "c"}


def test_improvements_are_not_reported_but_degradations_are():
    monitor = DriftMonitor("acme", "classification", DriftConfig(warmup=0))
    better = error_stream(5, 6000, 3000, 0.4, 0.05)
    assert run(monitor, {"champ": better}) == []


def test_a_heavy_tailed_feature_is_winsorised_and_a_shift_is_still_found():
    rng = random.Random(11)
    raw = Watch(0.002)
    wins = Watch(0.002 / 16, winsorise=True)
    values = [rng.lognormvariate(0, 1) for _ in range(200_000)]
    assert sum(raw.update(v) is not None for v in values) > 0  # why winsorise
    assert sum(wins.update(v) is not None for v in values) == 0
    shifted = [rng.lognormvariate(1.0, 1) for _ in range(2000)]
    hits = [i for i, v in enumerate(shifted) if wins.update(v) is not None]
    assert hits and hits[0] < 500


def test_feature_budget_and_bonferroni_delta():
    cfg = DriftConfig(delta=0.002, feature_budget=4)
    assert cfg.feature_delta == pytest.approx(0.0005)
    monitor = DriftMonitor("acme", "classification", cfg)
    monitor.observe(0, {f"f{i}": 1.0 for i in range(10)}, {"canary": 0.0}, roles=ROLES)
    assert sorted(monitor.features) == ["f0", "f1", "f2", "f3"]
    assert monitor.features["f0"].adwin.delta == pytest.approx(0.0005)


def test_divergence_between_canary_and_champion_outputs():
    monitor = DriftMonitor("acme", "classification", DriftConfig(warmup=200))
    rng = random.Random(4)
    found = []
    for t in range(4000):
        agree = rng.random() < (0.9 if t < 2000 else 0.4)
        outputs = {"champ": True, "canary": True if agree else False}
        found += monitor.observe(t, {}, {"champ": 0.0, "canary": 0.0}, outputs, ROLES)
    assert [(d.model, d.signal) for d in found] == [("canary", "divergence")]
    assert 2000 < found[0].training_offset < 2200


def test_a_rebuilt_model_starts_afresh_and_a_retired_one_is_forgotten():
    monitor = DriftMonitor("acme", "classification", DriftConfig(warmup=10))
    for t in range(50):
        monitor.observe(t, {}, {"champ": 0.0, "tree": 0.0}, roles=ROLES,
                        versions={"champ": 1, "tree": 1})
    assert monitor.errors["champ"].seen == 50
    monitor.observe(50, {}, {"champ": 0.0, "tree": 0.0}, roles=ROLES,
                    versions={"champ": 2, "tree": 1})
    assert monitor.errors["champ"].seen == 1 and monitor.errors["tree"].seen == 51
    monitor.observe(51, {}, {"champ": 0.0}, roles={"champ": "champion"}, versions={"champ": 2})
    assert "tree" not in monitor.errors


def test_replay_gives_the_same_detections():
    errs = error_stream(8, 6000, 3000, 0.1, 0.5)
    a = run(DriftMonitor("acme", "classification", wallclock=lambda: 0.0), {"champ": errs})
    b = run(DriftMonitor("acme", "classification", wallclock=lambda: 0.0), {"champ": errs})
    assert a == b and len(a) == 1


def test_observe_models_detects_the_champions_error_change():
    models = TenantModels(default_deployment(), "fast")
    monitor = DriftMonitor("acme", "classification", DriftConfig(warmup=100))
    rng = random.Random(2)
    found = []
    for t in range(3000):
        x = {"a": rng.uniform(-1, 1)}
        y = (x["a"] > 0) if t < 1500 else (x["a"] <= 0)
        models.learn_all(x, y)
        found += monitor.observe_models(t, x, y, models)
    champ = [d for d in found if d.model == "logreg" and d.signal == "error"]
    assert champ and 1500 <= champ[0].training_offset < 1700
    assert champ[0].mean_after > champ[0].mean_before


def test_config_is_validated():
    with pytest.raises(ValueError, match="delta"):
        DriftConfig(delta=0)
    with pytest.raises(ValueError, match="feature_budget"):
        DriftConfig(feature_budget=0)
    with pytest.raises(ValueError, match="task"):
        DriftMonitor("acme", "ranking")
