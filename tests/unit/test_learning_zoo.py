import time

import pytest
from river import compose, dummy

from learning.deployment import DeploymentError
from tests.drills import Failing, Sleepy
from learning.zoo import SPECS, UnknownSpec, build


@pytest.mark.parametrize(
    "task, spec, params, expected",
    [
        ("classification", "logreg", {}, "StandardScaler | LogisticRegression"),
        ("classification", "hoeffding", {}, "HoeffdingTreeClassifier"),
        ("classification", "arf", {}, "ARFClassifier"),
        ("classification", "baseline", {}, "PriorClassifier"),
        ("classification", "sleepy", {"delay_ms": 1}, "Sleepy(PriorClassifier)"),
        ("classification", "failing", {"every": 2}, "Failing(PriorClassifier)"),
        ("regression", "linreg", {}, "StandardScaler | LinearRegression"),
        ("regression", "hoeffding", {}, "HoeffdingTreeRegressor"),
        ("regression", "arf", {}, "ARFRegressor"),
        ("regression", "baseline", {}, "StatisticRegressor"),
        ("regression", "sleepy", {}, "Sleepy(StatisticRegressor)"),
        ("regression", "failing", {}, "Failing(StatisticRegressor)"),
    ],
)
def test_specs(task, spec, params, expected):
    assert str(build(spec, task, params)) == expected
    assert build(spec, task, params) is not build(spec, task, params)


def test_every_spec_is_tested():
    assert {t: list(s) for t, s in SPECS.items()} == {
        "classification": ["logreg", "hoeffding", "arf", "baseline", "sleepy", "failing"],
        "regression": ["linreg", "hoeffding", "arf", "baseline", "sleepy", "failing"],
    }


@pytest.mark.parametrize(
    "spec, task, params, attr, expected",
    [
        ("arf", "classification", None, "seed", 42),
        ("arf", "classification", {"seed": 7}, "seed", 7),
        ("arf", "regression", {"n_models": 3}, "n_models", 3),
        ("hoeffding", "classification", {"grace_period": 50}, "grace_period", 50),
        ("sleepy", "classification", {"delay_ms": 3}, "delay_ms", 3),
        ("failing", "regression", {"every": 4}, "every", 4),
    ],
)
def test_params_reach_the_model(spec, task, params, attr, expected):
    assert getattr(build(spec, task, params), attr) == expected


def test_params_reach_pipeline_step():
    model = build("logreg", "classification", {"l2": 0.5})
    assert isinstance(model, compose.Pipeline)
    assert model["LogisticRegression"].l2 == 0.5


@pytest.mark.parametrize(
    "spec, task, params, message",
    [
        ("nope", "classification", None, "unknown spec 'nope' for classification; known: logreg, hoeffding, arf, baseline, sleepy, failing"),
        ("linreg", "classification", None, "unknown spec 'linreg' for classification; known: logreg, hoeffding, arf, baseline, sleepy, failing"),
        ("logreg", "ranking", None, "unknown task 'ranking'; known: classification, regression"),
        ("baseline", "regression", {"x": 1}, "bad params for spec 'baseline' (regression): _mean_regressor() got an unexpected keyword argument 'x'"),
        ("failing", "classification", {"every": 0}, "bad params for spec 'failing' (classification): every must be an int >= 1, got 0"),
    ],
)
def test_unknown_spec(spec, task, params, message):
    with pytest.raises(UnknownSpec) as e:
        build(spec, task, params)
    assert str(e.value) == message
    assert isinstance(e.value, DeploymentError)


def test_sleepy_delays_predictions_not_learning():
    model = Sleepy(dummy.PriorClassifier(), delay_ms=30)
    start = time.perf_counter()
    model.learn_one({}, "a")
    assert time.perf_counter() - start < 0.03
    for predict, expected in [(model.predict_one, "a"), (model.predict_proba_one, {"a": 1.0})]:
        start = time.perf_counter()
        assert predict({}) == expected
        assert time.perf_counter() - start >= 0.03


@pytest.mark.parametrize(
    "every, expected",
    [
        (1, ["fail", "fail", "fail", "fail"]),
        (2, ["a", "fail", "a", "fail"]),
        (3, ["a", "a", "fail", "a"]),
    ],
)
def test_failing_pattern(every, expected):
    model = Failing(dummy.PriorClassifier(), every=every)
    model.learn_one({}, "a")
    seen = []
    # Labels and probabilities share the counter.
    for predict in [model.predict_one, model.predict_proba_one] * 2:
        try:
            out = predict({})
            seen.append(out if isinstance(out, str) else max(out, key=out.get))
        except RuntimeError:
            seen.append("fail")
    assert seen == expected


def test_drills_are_river_estimators():
    model = Failing(Sleepy(dummy.PriorClassifier(), delay_ms=0), every=2)
    clone = model.clone()
    assert str(clone) == "Failing(Sleepy(PriorClassifier))"
    assert clone._get_params() == model._get_params()
    assert clone.model is not model.model


def test_regression_baseline_predicts_the_mean():
    model = build("baseline", "regression")
    for y in [1.0, 2.0, 6.0]:
        model.learn_one({}, y)
    assert model.predict_one({}) == 3.0


def test_a_production_process_has_no_drill_models():
    """Only tests register "sleepy" and "failing" (tests/drills.py); a worker never does."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", "from learning import zoo; import app.factory; "
         "print(sorted(n for specs in zoo.SPECS.values() for n in specs))"],
        capture_output=True, text=True, check=True).stdout
    assert "sleepy" not in out and "failing" not in out and "logreg" in out
