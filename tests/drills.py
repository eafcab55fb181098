"""Fault drills: River estimators that misbehave on purpose, for fault-tolerance tests, and
their registration in the model zoo as the specs "sleepy" and "failing" (tests only: a
production worker refuses a deployment that names them).
"""

from __future__ import annotations

import time

from river import base, dummy, stats

from learning import zoo

__all__ = ["Sleepy", "Failing", "DRILL_SPECS", "register"]

DRILL_SPECS = ("sleepy", "failing")


class Sleepy(base.Wrapper, base.Estimator):
    """Delegate to `model` after sleeping `delay_ms` in every prediction.

    It stands for a model too slow for the deadline. `learn_one` itself is not delayed: the
    drill is about serving, not about a backlog of training.

    Parameters
    ----------
    model
        The model whose answers are delayed.
    delay_ms
        Time slept before each `predict_one` or `predict_proba_one`, in milliseconds.

    Examples
    --------
    >>> import time
    >>> from river import dummy
    >>> model = Sleepy(dummy.PriorClassifier(), delay_ms=20)
    >>> model.learn_one({"x": 1.0}, True)
    >>> start = time.perf_counter()
    >>> model.predict_one({"x": 1.0})
    True
    >>> time.perf_counter() - start >= 0.02
    True

    """

    def __init__(self, model: base.Estimator, delay_ms: float = 100.0):
        self.model = model
        self.delay_ms = delay_ms

    @property
    def _wrapped_model(self):
        return self.model

    @classmethod
    def _unit_test_params(cls):
        from river import dummy

        yield {"model": dummy.PriorClassifier(), "delay_ms": 0.0}

    def learn_one(self, x, y):
        self.model.learn_one(x, y)

    def predict_one(self, x):
        time.sleep(self.delay_ms / 1000)
        return self.model.predict_one(x)

    def predict_proba_one(self, x):
        time.sleep(self.delay_ms / 1000)
        return self.model.predict_proba_one(x)


class Failing(base.Wrapper, base.Estimator):
    """Delegate to `model`, but raise `RuntimeError` on every `every`-th prediction.

    `predict_one` and `predict_proba_one` share one counter, so a scorer that asks for
    probabilities fails as often as one that asks for labels.

    Parameters
    ----------
    model
        The model that answers between failures.
    every
        Fail on predictions number `every`, `2 * every`, ...; 1 fails always.

    Examples
    --------
    >>> from river import dummy
    >>> model = Failing(dummy.PriorClassifier(), every=2)
    >>> model.learn_one({}, "a")
    >>> for _ in range(4):
    ...     try:
    ...         print(model.predict_one({}))
    ...     except RuntimeError as e:
    ...         print(e)
    a
    drill: prediction 2 fails
    a
    drill: prediction 4 fails

    """

    def __init__(self, model: base.Estimator, every: int = 1):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.model = model
        self.every = every
        self._n_predictions = 0

    @property
    def _wrapped_model(self):
        return self.model

    @classmethod
    def _unit_test_params(cls):
        from river import dummy

        yield {"model": dummy.PriorClassifier(), "every": 1}

    def _count(self):
        self._n_predictions += 1
        if self._n_predictions % self.every == 0:
            raise RuntimeError(f"drill: prediction {self._n_predictions} fails")

    def learn_one(self, x, y):
        self.model.learn_one(x, y)

    def predict_one(self, x):
        self._count()
        return self.model.predict_one(x)

    def predict_proba_one(self, x):
        self._count()
        return self.model.predict_proba_one(x)


_BASELINES = {"classification": dummy.PriorClassifier,
              "regression": lambda: dummy.StatisticRegressor(stats.Mean())}


def register() -> None:
    """Add "sleepy" and "failing" to the zoo of every task, over that task's baseline model.

    >>> register()
    >>> print(zoo.build("failing", "regression", {"every": 2}))
    Failing(StatisticRegressor)
    """
    for task, baseline in _BASELINES.items():
        zoo.register(task, "sleepy", _sleepy(baseline))
        zoo.register(task, "failing", _failing(baseline))


def _sleepy(baseline):
    def sleepy(delay_ms: float = 100.0) -> base.Estimator:
        return Sleepy(baseline(), delay_ms=delay_ms)

    return sleepy


def _failing(baseline):
    def failing(every: int = 1) -> base.Estimator:
        return Failing(baseline(), every=every)

    return failing
