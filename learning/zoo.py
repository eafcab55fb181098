"""The model zoo: named, parameterised River estimators, by task.

A deployment names a spec and its parameters, never a pickled model, so that any pool can
build the same fresh model and replay brings it to the same state.

"""

from __future__ import annotations

from collections.abc import Callable

from river import base, dummy, forest, linear_model, optim, preprocessing, stats, tree

from learning.errors import DeploymentError

__all__ = ["SPECS", "UnknownSpec", "build", "register"]


class UnknownSpec(DeploymentError):
    """A spec the zoo doesn't know for a task, or parameters its model doesn't take."""


def _logreg(lr: float | None = None, **params) -> base.Estimator:
    # An optimizer is not JSON: a deployment names the SGD learning rate of the weights.
    if lr is not None:
        if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
            raise ValueError(f"lr must be a number > 0, got {lr!r}")
        params["optimizer"] = optim.SGD(lr)
    return preprocessing.StandardScaler() | linear_model.LogisticRegression(**params)


def _linreg(**params) -> base.Estimator:
    return preprocessing.StandardScaler() | linear_model.LinearRegression(**params)


def _arf_classifier(**params) -> base.Estimator:
    # A fixed seed by default keeps replay after recovery identical to the crash-free run.
    return forest.ARFClassifier(**{"seed": 42, **params})


def _arf_regressor(**params) -> base.Estimator:
    return forest.ARFRegressor(**{"seed": 42, **params})


def _prior_classifier() -> base.Estimator:
    return dummy.PriorClassifier()


def _mean_regressor() -> base.Estimator:
    return dummy.StatisticRegressor(stats.Mean())


SPECS: dict[str, dict[str, Callable[..., base.Estimator]]] = {
    "classification": {
        "logreg": _logreg,
        "hoeffding": tree.HoeffdingTreeClassifier,
        "arf": _arf_classifier,
        "baseline": _prior_classifier,
    },
    "regression": {
        "linreg": _linreg,
        "hoeffding": tree.HoeffdingTreeRegressor,
        "arf": _arf_regressor,
        "baseline": _mean_regressor,
    },
}


def register(task: str, name: str, factory: Callable[..., base.Estimator]) -> None:
    """Add a spec to the zoo of `task`, in this process only.

    Tests register their drill models this way (see ``tests/drills.py``): a production
    worker never builds them, and refuses a deployment that names them.

    Parameters
    ----------
    task
        "classification" or "regression".
    name
        The spec name deployments use; registering it again replaces its factory.
    factory
        Keyword parameters of the deployment -> a fresh estimator.

    Examples
    --------
    >>> register("regression", "constant", lambda: dummy.StatisticRegressor(stats.Mean()))
    >>> print(build("constant", "regression"))
    StatisticRegressor
    >>> del SPECS["regression"]["constant"]

    """
    if task not in SPECS:
        raise UnknownSpec(f"unknown task {task!r}; known: {', '.join(SPECS)}")
    SPECS[task][name] = factory


def build(spec: str, task: str, params: dict | None = None) -> base.Estimator:
    """Build a fresh, unfitted estimator from its spec name and parameters.

    Parameters
    ----------
    spec
        A name in `SPECS[task]`.
    task
        "classification" or "regression".
    params
        Keyword arguments of the underlying River model.

    Examples
    --------
    >>> build("hoeffding", "classification", {"grace_period": 50}).grace_period
    50
    >>> print(build("logreg", "classification"))
    StandardScaler | LogisticRegression
    >>> fast = build("logreg", "classification", {"lr": 0.05})
    >>> fast["LogisticRegression"].optimizer.learning_rate
    0.05
    >>> build("logreg", "classification", {"lr": 0})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    learning.zoo.UnknownSpec: bad params for spec 'logreg' (classification): lr must be ..., got 0
    >>> build("arf", "regression").seed
    42
    >>> build("logreg", "regression")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    learning.zoo.UnknownSpec: unknown spec 'logreg' for regression; known: linreg, hoeffding, ...
    >>> build("baseline", "classification", {"depth": 3})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    learning.zoo.UnknownSpec: bad params for spec 'baseline' (classification): ...

    """
    if task not in SPECS:
        raise UnknownSpec(f"unknown task {task!r}; known: {', '.join(SPECS)}")
    try:
        factory = SPECS[task][spec]
    except (KeyError, TypeError):
        known = ", ".join(SPECS[task])
        raise UnknownSpec(f"unknown spec {spec!r} for {task}; known: {known}") from None
    try:
        return factory(**(params or {}))
    except (TypeError, ValueError) as e:
        raise UnknownSpec(f"bad params for spec {spec!r} ({task}): {e}") from e
