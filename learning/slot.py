"""One deployed model of one tenant in one pool: the model, its progressive metric, and the
guards that keep a failing model from taking its neighbours down."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from river import metrics

from learning import zoo
from learning.deployment import ModelDeployment

__all__ = ["Scored", "LearnError", "ModelSlot"]


@dataclass(frozen=True)
class Scored:
    """A model's answer to one input.

    Parameters
    ----------
    output
        The prediction; None when the model raised or has nothing to say yet.
    proba
        Probability of the predicted class (classification only).
    error
        "ExcClass: message" when the model raised.
    latency_ms
        Wall time spent in the model.

    """

    output: object
    proba: float | None
    error: str | None
    latency_ms: float


class LearnError(RuntimeError):
    """A model raised inside `learn_one`; its state may be half-updated."""


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


class ModelSlot:
    """A model built from its deployment, with its progressive metric.

    Parameters
    ----------
    deployment
        What to build: spec, params, name, role, version.
    task
        "classification" or "regression".

    Examples
    --------
    >>> from river.datasets import synth
    >>> slot = ModelSlot(ModelDeployment("tree", "hoeffding", role="champion"), "classification")
    >>> slot.score({"salary": 1.0})  # doctest: +ELLIPSIS
    Scored(output=None, proba=None, error=None, latency_ms=...)
    >>> for x, y in synth.Agrawal(seed=1).take(200):
    ...     _ = slot.learn(x, y)
    >>> m = slot.metrics()
    >>> round(m["accuracy"], 3), m["n"]
    (0.829, 200)
    >>> x, _ = next(iter(synth.Agrawal(seed=2).take(1)))
    >>> scored = slot.score(x)
    >>> scored.output, round(scored.proba, 3), scored.error
    (1, 1.0, None)

    """

    def __init__(self, deployment: ModelDeployment, task: str):
        self.deployment = deployment
        self.task = task
        self.model = zoo.build(deployment.spec, task, deployment.params)
        self.metric = metrics.Accuracy() if task == "classification" else metrics.MAE()
        self.n_learned = 0
        self.n_learn_failures = 0
        self.last_learn_error: str | None = None
        # The progressive prediction of the last `learn` (checkpoint digests compare them).
        self.last_prediction = None

    # Derived from the deployment, so that a role change (a promotion) keeps the model.
    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def role(self) -> str:
        return self.deployment.role

    @property
    def version(self) -> int:
        return self.deployment.version

    def __repr__(self) -> str:
        return (
            f"ModelSlot({self.name!r}, role={self.role!r}, version={self.version}, "
            f"n_learned={self.n_learned})"
        )

    def score(self, x: dict) -> Scored:
        """Predict `x`; never raises."""
        start = time.perf_counter()
        proba = None
        try:
            if self.task == "classification":
                # The argmax of predict_proba_one is what River classifiers' predict_one
                # returns; asking once keeps a slow model from being paid twice.
                probas = self.model.predict_proba_one(x)
                output = max(probas, key=probas.get) if probas else None
                proba = float(probas[output]) if probas else None
            else:
                output = self.model.predict_one(x)
                if output is not None and not math.isfinite(output):
                    raise ValueError(f"non-finite prediction {output!r}")
        except Exception as e:
            return Scored(None, None, _describe(e), (time.perf_counter() - start) * 1000)
        return Scored(output, proba, None, (time.perf_counter() - start) * 1000)

    def learn(self, x: dict, y) -> float | None:
        """Progressive step: predict `x`, update the metric, then learn `(x, y)`.

        Returns the error of the prediction (0/1 loss or absolute error), None if the model
        made none. A failing `learn_one` raises `LearnError` and is counted in
        `n_learn_failures`; a failing prediction only means no error is measured.

        """
        try:
            y_pred = self.model.predict_one(x)
        except Exception:
            y_pred = None
        self.last_prediction = y_pred

        err = None
        if y_pred is not None:
            self.metric.update(y, y_pred)
            if self.task == "classification":
                err = 0.0 if y_pred == y else 1.0
            else:
                err = abs(y_pred - y)

        try:
            self.model.learn_one(x, y)
        except Exception as e:
            self.n_learn_failures += 1
            self.last_learn_error = _describe(e)
            raise LearnError(f"{self.name}: {self.last_learn_error}") from e
        self.n_learned += 1
        return err

    def metrics(self) -> dict:
        key = "accuracy" if self.task == "classification" else "mae"
        return {key: self.metric.get(), "n": self.n_learned}
