"""Drift detection for the models of one tenant in one pool, with `river.drift.ADWIN`.

A `DriftMonitor` watches, per (tenant, pool):

- every model's per-event error (0/1 loss in classification, absolute error in regression);
- for the tenant's canary model: every numeric input feature (data drift), and the divergence
  between the canary's output and the champion's (the canary as drift sensor).

Each watched signal is one `river.drift.ADWIN` (Bifet & Gavaldà, SDM 2007); this module
decides what is fed to it, and when, and turns ADWIN's cut into a ``drift`` record (`schemas.DriftEvent`, built by `detection`).

False alarms. ADWIN's guarantee holds for a bounded signal, and a detector fed a heavy-tailed
one (a regression error, a lognormal feature) fires on every outlier: ``bench.drift`` measured
72 false alarms per million lognormal values with the default delta and 0 per million for
0/1 errors. So unbounded signals are *winsorised*: after a warm-up the reference range
[q01, q99] of the signal is fixed and every value is fed as its clipped position in that
range, a number in [0, 1]. Means in a detection of such a signal are in those units.
A model's error is watched only after ``warmup`` errors, so that its learning curve is not
mistaken for drift, and only *increases* of error are reported (a model getting better is
not an alarm; ADWIN still cuts its window). Feature detectors share one false-alarm budget:
each gets ``delta / feature_budget`` (Bonferroni), and at most ``feature_budget`` features
are watched per tenant.

Determinism: a monitor's state is a function of the sequence of `observe` calls, so a pool
that replays ``training`` from a checkpoint offset rebuilds the same detectors.

"""

from __future__ import annotations

import math
from array import array
import time
from dataclasses import dataclass
from typing import Callable

from river import drift

from schemas.records import DriftEvent

__all__ = [
    "detection",
    "DIVERGENCE",
    "ERROR",
    "FEATURE",
    "DriftConfig",
    "DriftMonitor",
    "Watch",
]

ERROR = "error"
DIVERGENCE = "divergence"
FEATURE = "feature:"


@dataclass(frozen=True)
class DriftConfig:
    """How a `DriftMonitor` feeds its ADWIN detectors.

    Parameters
    ----------
    delta
        ADWIN significance of the error and divergence detectors.
    feature_budget
        At most this many input features are watched per tenant, each with
        ``delta / feature_budget`` (a Bonferroni split of one detector's false-alarm budget).
    warmup
        Errors of a model ignored before its detector starts (its learning curve), and the
        number of values that fix the reference range of a winsorised signal.
    clock
        ADWIN checks for a cut every ``clock`` values (River's default, 32).
    min_change
        Smallest change of a divergence or feature mean (in its [0, 1] units) that is
        reported (errors are reported at any size: their first cut is diluted by pre-change
        values, and a floor there cost detections in ``bench.drift``): ADWIN's
        variance-based bound is tight for a rare 0/1 event, and a canary that disagrees with
        the champion 0.1% of the time, then 0.2%, is a significant change of no consequence
        (``bench.drift`` measured 9 such alarms in 1.53M stationary events without it).

    """

    delta: float = 0.002
    feature_budget: int = 16
    warmup: int = 1000
    clock: int = 32
    min_change: float = 0.01

    def __post_init__(self):
        if not 0 < self.delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {self.delta!r}")
        for name in ("feature_budget", "clock"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not 0 <= self.min_change < 1:
            raise ValueError(f"min_change must be in [0, 1), got {self.min_change!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup!r}")

    @property
    def feature_delta(self) -> float:
        return self.delta / self.feature_budget


def detection(tenant: str, model: str, signal: str, training_offset: int, n_before: int,
              n_after: int, mean_before: float, mean_after: float, position: int | None = None,
              window_start: int | None = None, detected_at: float | None = None) -> DriftEvent:
    """A change ADWIN found in one signal, as the ``drift`` record it is published as.

    ``n_before``/``mean_before`` describe the part of the window ADWIN dropped,
    ``n_after``/``mean_after`` the part it kept (the post-change window, ending at
    ``training_offset``, inclusive). ``position`` counts the tenant's own labelled examples
    the monitor has seen (``training_offset`` counts every tenant of the partition);
    ``window_start`` is the training offset where the post-change window starts (None when
    it began before the offsets the monitor keeps), what a model reset after it retrains on.
    ``detected_at`` is wall time, the one field that differs under replay.

    >>> d = detection("acme", "logreg", "error", 5000, 900, 100, 0.1, 0.4, detected_at=1.0)
    >>> d.signal, d.training_offset, d.detected_at
    ('error', 5000, 1.0)
    """
    return DriftEvent(tenant, model, signal, training_offset, n_before, n_after, mean_before,
                      mean_after, time.time() if detected_at is None else detected_at,
                      position, window_start)


class Watch:
    """One signal fed to one `river.drift.ADWIN`.

    Parameters
    ----------
    delta, clock
        The detector's.
    skip
        Values ignored before anything is fed.
    winsorise
        Fix [q01, q99] from the first ``reference`` values after ``skip``, then feed each
        value as its clipped position in that range.
    reference
        See ``winsorise``.
    increases_only
        Report only cuts whose recent mean is higher (a change is still cut either way).
    min_change
        Report only cuts whose means differ by at least this much.

    Examples
    --------
    >>> w = Watch(delta=0.002)
    >>> cuts = [(i, w.update(float(i >= 1000))) for i in range(1200)]
    >>> [(i, c) for i, c in cuts if c]
    [(1023, (968, 56, 0.0, 0.42857142857142855))]

    The cut is at a bucket boundary of ADWIN's histogram: the kept window may still hold
    some values from before the change.

    """

    def __init__(self, delta: float, clock: int = 32, skip: int = 0, winsorise: bool = False,
                 reference: int = 1000, increases_only: bool = False, min_change: float = 0.0):
        self.adwin = drift.ADWIN(delta=delta, clock=clock)
        self.min_change = min_change
        self.skip = skip
        self.winsorise = winsorise
        self.reference = max(1, reference)
        self.increases_only = increases_only
        self.seen = 0
        self.range: tuple[float, float] | None = None
        self._pending: list[float] = []

    def update(self, value: float) -> tuple[int, int, float, float] | None:
        """Feed one value; (n_before, n_after, mean_before, mean_after) on a reported cut."""
        self.seen += 1
        if self.seen <= self.skip or not math.isfinite(value):
            return None
        if not self.winsorise:
            return self._feed(value)
        if self.range is None:
            self._pending.append(value)
            if len(self._pending) < self.reference:
                return None
            ordered = sorted(self._pending)
            lo = ordered[int(0.01 * (len(ordered) - 1))]
            hi = ordered[int(math.ceil(0.99 * (len(ordered) - 1)))]
            self.range = (lo, hi if hi > lo else lo + 1.0)
            pending, self._pending = self._pending, []
            found = None
            for v in pending:
                found = self._feed(self._scale(v)) or found
            return found
        return self._feed(self._scale(value))

    def _scale(self, value: float) -> float:
        lo, hi = self.range
        return min(1.0, max(0.0, (value - lo) / (hi - lo)))

    def _feed(self, value: float) -> tuple[int, int, float, float] | None:
        a = self.adwin
        width, total = a.width, a.total
        if a.drift_detected:  # River resets the detector on the update after a cut
            width, total = 0, 0.0
        a.update(value)
        if not a.drift_detected:
            return None
        n_after = int(a.width)
        n_before = int(width) + 1 - n_after
        if n_before <= 0 or n_after <= 0:
            return None
        mean_after = a.total / n_after
        mean_before = (total + value - a.total) / n_before
        if self.increases_only and mean_after <= mean_before:
            return None
        if abs(mean_after - mean_before) < self.min_change:
            return None
        return n_before, n_after, mean_before, mean_after


WINDOW_OFFSETS = 1000  # per tenant: post-change windows at an alarm are a few hundred long


class RecentOffsets:
    """The tenant's last `size` training offsets, in 8 bytes each (10k tenants: 80 MB).

    >>> r = RecentOffsets(3)
    >>> for offset in (10, 14, 15, 19):
    ...     r.append(offset)
    >>> r.back(1), r.back(3), r.back(4), r.back(0)
    (19, 14, None, None)
    """

    def __init__(self, size: int):
        self.ring = array("q", bytes(8 * size))
        self.n = 0

    def append(self, offset: int) -> None:
        self.ring[self.n % len(self.ring)] = offset
        self.n += 1

    def back(self, k: int) -> int | None:
        """The `k`-th last offset (1: the last), None if not kept."""
        if not 0 < k <= min(self.n, len(self.ring)):
            return None
        return self.ring[(self.n - k) % len(self.ring)]


class DriftMonitor:
    """The drift detectors of one tenant's models in one pool.

    Parameters
    ----------
    tenant
        Carried into every detection.
    task
        "classification" (0/1 errors, watched raw) or "regression" (absolute errors,
        winsorised).
    config
        Deltas, warm-up, feature budget.
    wallclock
        Stamps each detection's ``detected_at``.

    Examples
    --------
    A champion whose error jumps from 10% to 60% at offset 3000, and a canary that sees a
    feature shift at offset 4000 (seeded, so the offsets are exact):

    >>> import random
    >>> rng = random.Random(42)
    >>> monitor = DriftMonitor("acme", "classification", DriftConfig(warmup=500))
    >>> roles = {"lr": "champion", "base": "canary"}
    >>> found = []
    >>> for t in range(6000):
    ...     x = {"amount": rng.gauss(5.0 if t >= 4000 else 0.0, 1.0)}
    ...     err = float(rng.random() < (0.6 if t >= 3000 else 0.1))
    ...     found += monitor.observe(t, x, {"lr": err, "base": 0.5}, roles=roles)
    >>> for d in found:
    ...     print(d.model, d.signal, d.training_offset, d.n_after, round(d.mean_after, 2))
    lr error 3027 480 0.14
    base feature:amount 4031 960 0.52

    """

    def __init__(self, tenant: str, task: str, config: DriftConfig | None = None,
                 wallclock: Callable[[], float] = time.time):
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be classification or regression, got {task!r}")
        self.tenant = tenant
        self.task = task
        self.config = config or DriftConfig()
        self.wallclock = wallclock
        self.errors: dict[str, Watch] = {}
        self.features: dict[str, Watch] = {}
        self.divergence: Watch | None = None
        self.versions: dict[str, int] = {}
        self.canary: str | None = None
        self.champion: str | None = None
        self.n_observed = 0
        self.offsets = RecentOffsets(WINDOW_OFFSETS)
        self.n_detections = 0

    def __repr__(self) -> str:
        return (f"DriftMonitor({self.tenant!r}, {self.task!r}, models={sorted(self.errors)}, "
                f"features={len(self.features)}, observed={self.n_observed})")

    # --- what is watched ---------------------------------------------------------------------

    def _error_watch(self) -> Watch:
        c = self.config
        return Watch(c.delta, c.clock, skip=c.warmup, winsorise=self.task == "regression",
                     reference=c.warmup, increases_only=True)

    def _divergence_watch(self) -> Watch:
        c = self.config
        # Both models learn from the start; their disagreement settles after the warm-up.
        return Watch(c.delta, c.clock, skip=c.warmup, winsorise=self.task == "regression",
                     reference=c.warmup, min_change=c.min_change)

    def _feature_watch(self) -> Watch:
        c = self.config
        return Watch(c.feature_delta, c.clock, winsorise=True, reference=max(1, c.warmup),
                     min_change=c.min_change)

    def forget(self, model: str) -> None:
        """Drop a model's detectors (it was rebuilt or retired): a new version starts afresh."""
        self.errors.pop(model, None)
        self.versions.pop(model, None)
        if model in (self.canary, self.champion):
            self.divergence = None
        if model == self.canary:
            self.features.clear()

    def _sync(self, roles: dict[str, str], versions: dict[str, int] | None) -> None:
        if versions:
            for name, version in versions.items():
                if self.versions.get(name, version) != version:
                    self.forget(name)
                self.versions[name] = version
        for name in [n for n in self.errors if n not in roles]:
            self.forget(name)
        canary = next((n for n, r in roles.items() if r == "canary"), None)
        champion = next((n for n, r in roles.items() if r == "champion"), None)
        if canary != self.canary:
            self.features.clear()
            self.divergence = None
        elif champion != self.champion:
            self.divergence = None
        self.canary, self.champion = canary, champion

    # --- the stream -------------------------------------------------------------------------

    def observe(self, training_offset: int, x: dict, errors: dict[str, float | None],
                outputs: dict[str, object] | None = None, roles: dict[str, str] | None = None,
                versions: dict[str, int] | None = None) -> list[DriftEvent]:
        """One labelled example, after the models predicted it (and before or after they
        learnt it: the errors are progressive either way).

        Parameters
        ----------
        training_offset
            The example's offset in the tenant's ``training`` partition.
        x
            The input features to watch for data drift (the event's own features; rolling
            aggregates drift by construction and should not be passed).
        errors
            Model name -> its error on this example, None when it made no prediction.
        outputs
            Model name -> its prediction; the canary-champion divergence needs both. Without
            outputs, classification falls back to their disagreement on correctness (exact
            for binary tasks), regression watches no divergence.
        roles
            Model name -> role; every model of `errors` is a "challenger" when omitted.
        versions
            Model name -> version: a model whose version changed (rebuilt) starts afresh.

        Returns
        -------
        The detections of this example, in a fixed order: model errors (in `errors` order),
        then the divergence, then features (sorted by name).

        """
        roles = roles if roles is not None else dict.fromkeys(errors, "challenger")
        self._sync(roles, versions)
        self.n_observed += 1
        self.offsets.append(training_offset)
        found: list[DriftEvent] = []

        for name, err in errors.items():
            if name not in roles:
                continue
            watch = self.errors.get(name)
            if watch is None:
                watch = self.errors[name] = self._error_watch()
            if err is not None:
                self._check(found, watch.update(float(err)), name, ERROR, training_offset)

        canary, champion = self.canary, self.champion
        if canary is not None:
            if champion is not None:
                div = self._divergence(canary, champion, errors, outputs)
                if div is not None:
                    if self.divergence is None:
                        self.divergence = self._divergence_watch()
                    self._check(found, self.divergence.update(div), canary, DIVERGENCE,
                                training_offset)
            for name in sorted(x, key=str):
                value = x[name]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                watch = self.features.get(name)
                if watch is None:
                    if len(self.features) >= self.config.feature_budget:
                        continue
                    watch = self.features[name] = self._feature_watch()
                self._check(found, watch.update(float(value)), canary, FEATURE + str(name),
                            training_offset)
        self.n_detections += len(found)
        return found

    def observe_models(self, training_offset: int, features: dict, y, models) -> list[DriftEvent]:
        """`observe` for a `learning.tenant_models.TenantModels` that has just learnt
        `(x, y)`: errors, outputs, roles and versions come from its slots
        (``slot.last_prediction`` is the progressive prediction of the last `learn`).

        `features` are the event's own features (``enriched.features``).

        >>> from learning.deployment import default_deployment
        >>> from learning.tenant_models import TenantModels
        >>> models = TenantModels(default_deployment(), "fast")
        >>> monitor = DriftMonitor("acme", "classification")
        >>> _ = models.learn_all({"a": 1.0}, True)
        >>> monitor.observe_models(7, {"a": 1.0}, True, models)
        []
        >>> sorted(monitor.errors), monitor.canary, monitor.champion
        (['baseline', 'logreg'], 'baseline', 'logreg')
        """
        errors, outputs, roles, versions = {}, {}, {}, {}
        for name, slot in models.slots.items():
            pred = getattr(slot, "last_prediction", None)
            outputs[name], roles[name], versions[name] = pred, slot.role, slot.version
            if pred is None:
                errors[name] = None
            elif self.task == "classification":
                errors[name] = float(pred != y)
            else:
                errors[name] = abs(float(pred) - float(y))
        return self.observe(training_offset, features, errors, outputs, roles, versions)

    def _divergence(self, canary: str, champion: str, errors: dict,
                    outputs: dict | None) -> float | None:
        if outputs is not None and canary in outputs and champion in outputs:
            a, b = outputs[canary], outputs[champion]
            if a is None or b is None:
                return None
            if self.task == "classification":
                return float(a != b)
            return abs(float(a) - float(b))
        if self.task == "classification":
            a, b = errors.get(canary), errors.get(champion)
            if a is None or b is None:
                return None
            return float(a != b)
        return None

    def _check(self, found: list, cut, model: str, signal: str, offset: int) -> None:
        if cut is None:
            return
        n_before, n_after, mean_before, mean_after = cut
        start = self.offsets.back(n_after)
        found.append(detection(self.tenant, model, signal, offset, n_before, n_after,
                               mean_before, mean_after, self.n_observed, start,
                               self.wallclock()))
