import math

import pytest
from river import base, evaluate, metrics
from river.datasets import synth

from learning.deployment import ModelDeployment
from tests.drills import Failing
from learning.slot import LearnError, ModelSlot, Scored
from learning.zoo import build


def slot(spec, task="classification", params=None, name=None):
    return ModelSlot(ModelDeployment(name or spec, spec, params or {}, role="champion"), task)


STREAMS = {
    "classification": lambda: synth.Agrawal(seed=1).take(500),
    "regression": lambda: synth.Friedman(seed=1).take(500),
}


@pytest.mark.parametrize(
    "task, spec, params",
    [
        ("classification", "logreg", {}),
        ("classification", "hoeffding", {"grace_period": 50}),
        ("classification", "baseline", {}),
        ("regression", "linreg", {}),
        ("regression", "hoeffding", {}),
        ("regression", "baseline", {}),
    ],
)
def test_learn_matches_progressive_val_score(task, spec, params):
    s = slot(spec, task, params)
    errors = [s.learn(x, y) for x, y in STREAMS[task]()]

    reference = metrics.Accuracy() if task == "classification" else metrics.MAE()
    evaluate.progressive_val_score(STREAMS[task](), build(spec, task, params), reference)

    assert s.metric.get() == reference.get()
    assert s.n_learned == 500
    assert s.metrics() == {("accuracy" if task == "classification" else "mae"): reference.get(), "n": 500}
    # The returned errors are the metric's own terms.
    measured = [e for e in errors if e is not None]
    if task == "classification":
        assert 1 - sum(measured) / len(measured) == pytest.approx(reference.get(), abs=1e-12)
    else:
        assert sum(measured) / len(measured) == pytest.approx(reference.get(), rel=1e-12)


@pytest.mark.parametrize(
    "task, spec, stream, expected",
    [
        # A classifier that knows nothing yet predicts nothing: no error, no metric update;
    # the regression baseline predicts the mean of nothing, 0.
        ("classification", "baseline", [({}, "a"), ({}, "b"), ({}, "a"), ({}, "a")], [None, 1.0, 0.0, 0.0]),
        ("regression", "baseline", [({}, 2.0), ({}, 4.0), ({}, 0.0)], [2.0, 2.0, 3.0]),
    ],
)
def test_learn_returns_progressive_errors(task, spec, stream, expected):
    s = slot(spec, task)
    assert [s.learn(x, y) for x, y in stream] == expected


def test_metrics_before_learning():
    assert slot("baseline").metrics() == {"accuracy": 0.0, "n": 0}
    assert slot("baseline", "regression").metrics() == {"mae": 0.0, "n": 0}


@pytest.mark.parametrize(
    "task, spec, stream, x, expected",
    [
        ("classification", "baseline", [], {}, Scored(None, None, None, 0.0)),
        ("classification", "baseline", [({}, "a"), ({}, "a"), ({}, "b"), ({}, "a")], {}, Scored("a", 0.75, None, 0.0)),
        ("classification", "failing", [({}, "a")], {}, Scored(None, None, "RuntimeError: drill: prediction 2 fails", 0.0)),
        ("regression", "baseline", [({}, 1.0), ({}, 2.0)], {}, Scored(1.5, None, None, 0.0)),
        ("regression", "failing", [], {}, Scored(None, None, "RuntimeError: drill: prediction 1 fails", 0.0)),
    ],
)
def test_score(task, spec, stream, x, expected):
    s = slot(spec, task)
    for xi, yi in stream:
        s.learn(xi, yi)
    scored = s.score(x)
    assert scored.latency_ms >= 0.0
    assert scored == Scored(expected.output, expected.proba, expected.error, scored.latency_ms)


def test_failing_prediction_still_learns():
    s = slot("failing", params={"every": 1})
    assert [s.learn({}, "a") for _ in range(3)] == [None, None, None]
    assert s.n_learned == 3
    assert s.model.model.predict_one({}) == "a"


class Exploding(base.Regressor):
    def learn_one(self, x, y):
        raise ZeroDivisionError("division by zero")

    def predict_one(self, x):
        return math.nan


def test_non_finite_regression_output_is_an_error():
    s = slot("baseline", "regression")
    s.model = Exploding()
    scored = s.score({})
    assert (scored.output, scored.error) == (None, "ValueError: non-finite prediction nan")


def test_learn_one_failure_raises_learn_error():
    s = slot("baseline", "regression", name="boom")
    s.model = Exploding()
    with pytest.raises(LearnError, match=r"^boom: ZeroDivisionError: division by zero$") as e:
        s.learn({}, 1.0)
    assert isinstance(e.value.__cause__, ZeroDivisionError)
    assert (s.n_learned, s.n_learn_failures, s.last_learn_error) == (0, 1, "ZeroDivisionError: division by zero")


def test_slot_attributes_follow_deployment():
    s = ModelSlot(ModelDeployment("tree", "hoeffding", {"grace_period": 5}, role="shadow", version=4), "classification")
    assert (s.name, s.role, s.version, s.n_learned) == ("tree", "shadow", 4, 0)
    assert s.model.grace_period == 5
    assert isinstance(s.metric, metrics.Accuracy)
    assert isinstance(slot("linreg", "regression").metric, metrics.MAE)
    assert isinstance(Failing(s.model), base.Estimator)


def test_score_output_equals_predict_one():
    s = slot("hoeffding", params={"grace_period": 50})
    for x, y in synth.Agrawal(seed=3).take(300):
        assert s.score(x).output == s.model.predict_one(x)
        s.learn(x, y)
