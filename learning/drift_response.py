"""What a tenant does about a drift detection: pure functions of (deployment, detection, policy).

Per tenant, a `ResponsePolicy` names the action taken when the *champion's error* drifts
(other signals, a canary's feature or divergence, a challenger's error, only ever alert):

- ``alert``: nothing changes; the response says so.
- ``reset``: the champion is rebuilt (a new model version) with ``retrain_from``, where the
  detection's post-change window starts: at the first training record that carries the new
  deployment, its pool retrains it on the tenant's records since then, and it learns on.
- ``promote``: an `Evaluation` opens over the next ``window`` labelled requests; when it
  closes (`conclude`), the best challenger is promoted if its accuracy beats the champion's
  by ``margin``, else the champion is kept. With ``reset_champion`` the champion is also
  reset at the alarm, as for ``reset``, so that the challengers are compared with a champion
  that already learns the new concept: a challenger wins only where its model family suits
  the new concept better.
- ``rollback``: a decision record for the checkpoint store (restore the champion's last
  checkpoint from before the post-change window); the deployment itself does not change.

Any policy may also ``restart`` named challengers at each alarm: they are rebuilt and
retrained the same way, the "fresh challenger" strategy of the drift bench.

Every response is a `Response` event saying what changed and why. Deployment changes go
through `learning.control.apply_command` (``deploy`` of a model with a bumped version for a
reset or restart, ``promote`` for a promotion), so their semantics are the control commands'.
Idempotence: a response is keyed by the detection it answers, (tenant, model, signal,
training_offset), and `apply_response` only applies to the deployment version it was decided
against: applying it twice, or replaying the detection into a `Ledger`, changes nothing.

"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

import orjson

from learning.control import CommandError, apply_command
from learning.deployment import Deployment, DeploymentError
from learning.drift import ERROR
from schemas.records import DriftEvent

__all__ = [
    "ACTIONS",
    "Evaluation",
    "Ledger",
    "Response",
    "ResponsePolicy",
    "apply_response",
    "conclude",
    "handle",
    "respond",
    "Responder",
    "policies_from",
]

ACTIONS = ("alert", "promote", "reset", "rollback")


@dataclass(frozen=True)
class ResponsePolicy:
    """A tenant's response to drift.

    Parameters
    ----------
    action
        One of `ACTIONS`, taken when the champion's error drifts up.
    margin
        ``promote``: accuracy (classification) or MAE (regression) points by which the best
        challenger must beat the champion over the evaluation window.
    window
        ``promote``: labelled requests in the evaluation window.
    restart
        Challengers rebuilt at each alarm (skipped while one is the champion).
    cooldown
        The tenant's examples after an acting detection during which further champion alarms
        only alert: the pool may still report on the old model until it sees the new
        deployment.
    reset_champion
        ``promote`` only: also reset the champion at the alarm (rebuilt and retrained on the
        post-change window) before the evaluation: the reset recovers a champion whose
        family still fits the new concept, the evaluation replaces one whose family no
        longer does. With a fast-learning challenger in ``restart`` it is the best response
        ``bench.drift`` measured, in served accuracy and in recovery.

    Examples
    --------
    >>> ResponsePolicy.from_dict({"action": "promote", "restart": ["fresh"]})
    ... # doctest: +NORMALIZE_WHITESPACE
    ResponsePolicy(action='promote', margin=0.02, window=500, restart=('fresh',), cooldown=500,
                   reset_champion=False)
    >>> ResponsePolicy.from_dict({"action": "promote", "window": 100, "reset_champion": True})
    ... # doctest: +NORMALIZE_WHITESPACE
    ResponsePolicy(action='promote', margin=0.02, window=100, restart=(), cooldown=500,
                   reset_champion=True)
    >>> ResponsePolicy.from_dict({"action": "retrain"})
    Traceback (most recent call last):
    ...
    ValueError: drift response action 'retrain' is not one of alert, promote, reset, rollback
    >>> ResponsePolicy("reset", reset_champion=True)
    Traceback (most recent call last):
    ...
    ValueError: drift response reset_champion applies to action 'promote' only, not 'reset'

    """

    action: str = "alert"
    margin: float = 0.02
    window: int = 500
    restart: tuple[str, ...] = ()
    cooldown: int = 500
    reset_champion: bool = False

    def __post_init__(self):
        if isinstance(self.restart, list):
            object.__setattr__(self, "restart", tuple(self.restart))
        if self.action not in ACTIONS:
            raise ValueError(f"drift response action {self.action!r} is not one of "
                             f"{', '.join(ACTIONS)}")
        if not isinstance(self.margin, int | float) or self.margin < 0:
            raise ValueError(f"drift response margin must be a number >= 0, got {self.margin!r}")
        for name in ("window", "cooldown"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if name == "window" else 0):
                raise ValueError(f"drift response {name} must be a positive int, got {v!r}")
        if not all(isinstance(n, str) and n for n in self.restart):
            raise ValueError(f"drift response restart must be model names, got {self.restart!r}")
        if not isinstance(self.reset_champion, bool):
            raise ValueError(f"drift response reset_champion must be true or false, got "
                             f"{self.reset_champion!r}")
        if self.reset_champion and self.action != "promote":
            raise ValueError(f"drift response reset_champion applies to action 'promote' only, "
                             f"not {self.action!r}")

    @classmethod
    def from_dict(cls, d: Mapping) -> ResponsePolicy:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"drift response policy: unknown field {unknown[0]!r}")
        return cls(**d)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "restart": list(self.restart)}


@dataclass(frozen=True)
class Response:
    """One response event: what changed for a tenant, and why.

    ``action`` is what was done: ``alert``, ``reset``, ``rollback``, ``evaluate`` (a
    promotion evaluation opened), ``promote``, ``keep`` (the evaluation found no better
    challenger), or ``superseded`` (the deployment changed before it could apply).
    ``stage`` tells the opening response of a detection ("detected") from the conclusion of
    its evaluation ("evaluated"): together with the detection they make the `key`.
    """

    tenant: str
    model: str
    signal: str
    training_offset: int
    action: str
    reason: str
    deployment_version_before: int
    deployment_version_after: int
    stage: str = "detected"
    changes: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.tenant}|{self.model}|{self.signal}|{self.training_offset}|{self.stage}"

    @property
    def changed(self) -> bool:
        return self.deployment_version_after != self.deployment_version_before

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "key": self.key}


def _acting(detection: DriftEvent, deployment: Deployment) -> bool:
    return (detection.signal == ERROR and detection.model == deployment.champion.name
            and detection.mean_after > detection.mean_before)


def _rebuild(d: Deployment, name: str, retrain_from: int | None) -> Deployment:
    """`name` rebuilt (a new version); the pool retrains it from `retrain_from` on."""
    m = d.model(name)
    rebuilt = {**m.to_dict(), "version": m.version + 1}
    rebuilt.pop("retrain_from", None)
    if retrain_from is not None:
        rebuilt["retrain_from"] = retrain_from
    return apply_command(d, "deploy", {"model": rebuilt})


def _restart(d: Deployment, policy: ResponsePolicy,
             retrain_from: int | None) -> tuple[Deployment, list[str]]:
    restarted = []
    for name in policy.restart:
        try:
            role = d.model(name).role
        except KeyError:
            continue
        if role != "champion":
            d = _rebuild(d, name, retrain_from)
            restarted.append(name)
    return d, restarted


def respond(deployment: Deployment, detection: DriftEvent, policy: ResponsePolicy,
            ) -> tuple[Deployment, Response]:
    """The deployment after `detection`, and the response event that says why.

    Examples
    --------
    >>> from learning.deployment import default_deployment
    >>> d = default_deployment()
    >>> from learning.drift import detection
    >>> drift = detection("acme", "logreg", "error", 5000, 900, 100, 0.1, 0.4)
    >>> new, r = respond(d, drift, ResponsePolicy("reset"))
    >>> r.action, r.changes, (new.version, new.champion.name, new.champion.version)
    ('reset', {'reset': {'logreg': [1, 2]}}, (2, 'logreg', 2))
    >>> respond(d, drift, ResponsePolicy("alert"))[1].reason
    "alert only: error of 'logreg' (champion) rose from 0.1 to 0.4 over 100 examples"
    >>> feature = detection("acme", "baseline", "feature:amount", 5000, 900, 100, 0.5, 0.9)
    >>> new, r = respond(d, feature, ResponsePolicy("reset"))
    >>> r.action, new is d
    ('alert', True)

    """
    before = deployment.version
    champion = deployment.champion
    what = (f"{detection.signal} of {detection.model!r} "
            f"({_role(deployment, detection.model)}) "
            f"{'rose' if detection.mean_after > detection.mean_before else 'fell'} from "
            f"{detection.mean_before:.3g} to {detection.mean_after:.3g} over "
            f"{detection.n_after} examples")

    def response(action: str, reason: str, new: Deployment, **kw) -> tuple[Deployment, Response]:
        return new, Response(detection.tenant, detection.model, detection.signal,
                             detection.training_offset, action, reason, before, new.version, **kw)

    if policy.action == "alert" or not _acting(detection, deployment):
        return response("alert", f"alert only: {what}", deployment)

    new, restarted = _restart(deployment, policy, detection.window_start)
    changes: dict = {"restarted": restarted} if restarted else {}
    if policy.action == "reset" or policy.reset_champion:
        new = _rebuild(new, champion.name, detection.window_start)
        changes = {"reset": {champion.name: [champion.version, champion.version + 1]},
                   **changes}
    if policy.action == "reset":
        return response("reset", f"champion reset: {what}", new, changes=changes)
    if policy.action == "rollback":
        changes = {"rollback": {"model": champion.name, "version": champion.version,
                                "before_training_offset": detection.training_offset,
                                "post_change_examples": detection.n_after}, **changes}
        return response("rollback", f"roll the champion back to its last checkpoint from "
                        f"before the change: {what}", new, changes=changes)
    candidates = [m.name for m in new.models if m.role == "challenger"]
    reset = "champion reset, " if policy.reset_champion else ""
    if not candidates:
        return response("reset" if reset else "alert",
                        f"{reset}no challenger to evaluate: {what}", new, changes=changes)
    changes = {"evaluate": {"champion": champion.name, "challengers": candidates,
                            "window": policy.window}, **changes}
    return response("evaluate", f"{reset}evaluating challengers over the next "
                    f"{policy.window} labelled requests: {what}", new, changes=changes)


def _role(d: Deployment, name: str) -> str:
    try:
        return d.model(name).role
    except KeyError:
        return "retired"


def apply_response(current: Deployment, response: Response, decided: Deployment) -> Deployment:
    """`decided` if `response` was decided against `current`, else `current` unchanged: a
    response applies once, to the version it was decided against.

    >>> from learning.deployment import default_deployment
    >>> d = default_deployment()
    >>> from learning.drift import detection
    >>> drift = detection("acme", "logreg", "error", 5000, 900, 100, 0.1, 0.4)
    >>> new, r = respond(d, drift, ResponsePolicy("reset"))
    >>> once = apply_response(d, r, new)
    >>> twice = apply_response(once, r, new)
    >>> once.version, twice is once
    (2, True)
    """
    if current.version != response.deployment_version_before or not response.changed:
        return current
    return decided


class Evaluation:
    """Per-model accuracy over the labelled requests after an alarm, for ``promote``.

    Each request is counted once, when its label and every compared model's output are in;
    the outputs and labels may arrive in any order (a score after an inline label's training
    record, or before a delayed one). Requests waiting for their other half are bounded.

    Examples
    --------
    >>> e = Evaluation("acme|logreg|error|5000|detected", "classification", "logreg",
    ...                ("hoeffding",), window=3)
    >>> for i, (champ, chall) in enumerate([(1, 0), (0, 0), (1, 0)]):
    ...     e.on_label(f"r{i}", 0)
    ...     e.on_output(f"r{i}", "logreg", champ)
    ...     e.on_output(f"r{i}", "hoeffding", chall)
    >>> e.done, e.scores()
    (True, {'logreg': 0.3333333333333333, 'hoeffding': 1.0})
    """

    def __init__(self, key: str, task: str, champion: str, challengers: tuple[str, ...],
                 window: int, max_waiting: int | None = None):
        self.key = key
        self.task = task
        self.champion = champion
        self.models = (champion, *challengers)
        self.window = window
        self.max_waiting = max_waiting or 20 * window
        self.n = 0
        self.sums = dict.fromkeys(self.models, 0.0)
        self.waiting: OrderedDict[str, dict] = OrderedDict()

    @property
    def done(self) -> bool:
        return self.n >= self.window

    def _entry(self, request_id: str) -> dict:
        entry = self.waiting.get(request_id)
        if entry is None:
            entry = self.waiting[request_id] = {"outputs": {}}
            while len(self.waiting) > self.max_waiting:
                self.waiting.popitem(last=False)
        return entry

    def on_output(self, request_id: str, model: str, output) -> None:
        if model in self.models and not self.done:
            self._entry(request_id)["outputs"][model] = output
            self._settle(request_id)

    def on_label(self, request_id: str, label) -> None:
        if not self.done:
            self._entry(request_id)["label"] = label
            self._settle(request_id)

    def record(self, outputs: Mapping[str, object], label) -> None:
        """A request whose outputs and label are both at hand."""
        if self.done:
            return
        self.n += 1
        for model in self.models:
            self.sums[model] += self._score(outputs.get(model), label)

    def _settle(self, request_id: str) -> None:
        entry = self.waiting[request_id]
        if "label" in entry and all(m in entry["outputs"] for m in self.models):
            del self.waiting[request_id]
            self.record(entry["outputs"], entry["label"])

    def _score(self, output, label) -> float:
        if self.task == "classification":
            return float(output is not None and output == label)
        if output is None:
            return float("inf")
        return abs(float(output) - float(label))

    def scores(self) -> dict[str, float]:
        """Accuracy (classification) or MAE (regression) of each model over the window."""
        return {m: (s / self.n if self.n else 0.0) for m, s in self.sums.items()}


def conclude(deployment: Deployment, opened: Response, evaluation: Evaluation,
             policy: ResponsePolicy) -> tuple[Deployment, Response]:
    """Close a promotion evaluation: promote the best challenger if it beats the champion by
    ``policy.margin``, else keep the champion.

    >>> from learning.deployment import default_deployment
    >>> d = default_deployment()
    >>> from learning.drift import detection
    >>> drift = detection("acme", "logreg", "error", 5000, 900, 100, 0.1, 0.4)
    >>> _, opened = respond(d, drift, ResponsePolicy("promote", window=2))
    >>> e = Evaluation(opened.key, d.task, "logreg", ("hoeffding",), window=2)
    >>> e.record({"logreg": False, "hoeffding": True}, True)
    >>> e.record({"logreg": True, "hoeffding": True}, True)
    >>> new, r = conclude(d, opened, e, ResponsePolicy("promote", window=2))
    >>> r.action, r.stage, r.changes, new.champion.name
    ('promote', 'evaluated', {'promoted': 'hoeffding', 'demoted': 'logreg'}, 'hoeffding')
    """
    scores = evaluation.scores()
    higher = deployment.task == "classification"
    champion = deployment.champion.name
    alive = [m for m in evaluation.models
             if m != champion and _role(deployment, m) == "challenger"]
    evidence = {"n": evaluation.n, "scores": scores, "champion": champion}

    def response(action, reason, new, **kw):
        return new, dataclasses.replace(
            opened, action=action, reason=reason, stage="evaluated",
            deployment_version_before=deployment.version, deployment_version_after=new.version,
            evidence=evidence, **kw)

    if champion not in scores or not alive:
        return response("keep", "no challenger left to compare with the champion", deployment)
    best = max(alive, key=lambda m: scores[m] if higher else -scores[m])
    gain = (scores[best] - scores[champion]) if higher else (scores[champion] - scores[best])
    metric = "accuracy" if higher else "MAE"
    summary = (f"{metric} over {evaluation.n} labelled requests: {best!r} {scores[best]:.3f}, "
               f"champion {champion!r} {scores[champion]:.3f}")
    if gain < policy.margin:
        return response("keep", f"no challenger beats the champion by {policy.margin:g}: "
                        f"{summary}", deployment)
    try:
        new = apply_command(deployment, "promote", {"model": best})
    except (CommandError, DeploymentError) as exc:
        return response("keep", f"promotion of {best!r} refused: {exc}", deployment)
    return response("promote", f"{best!r} promoted: {summary}", new,
                    changes={"promoted": best, "demoted": champion})


class Ledger:
    """Which detections a tenant has answered, and the last acting one, so that a replayed
    or redelivered detection changes nothing.

    ``store`` is any mutable mapping (a dict, or a changelog-backed table keyed by tenant).

    The cooldown counts the tenant's own examples (the detection's ``position``) when detections
    carry them: training offsets also count the other tenants of the partition.

    >>> ledger = Ledger({})
    >>> from learning.drift import detection
    >>> d = detection("acme", "logreg", "error", 5000, 900, 100, 0.1, 0.4, position=1000)
    >>> ledger.seen(d), ledger.note(d, acted=True), ledger.seen(d)
    (False, None, True)
    >>> ledger.cooling(detection("acme", "logreg", "error", 5100, 9, 1, 0.1, 0.4, 1020), 500)
    True
    >>> ledger.cooling(detection("acme", "logreg", "error", 5400, 9, 1, 0.1, 0.4, 1600), 500)
    False
    """

    MAX_KEYS = 256  # per tenant

    def __init__(self, store: MutableMapping):
        self.store = store

    def _get(self, tenant: str) -> dict:
        return self.store.get(tenant) or {"keys": [], "acted_at": None}

    def seen(self, d: DriftEvent) -> bool:
        return _key(d) in self._get(d.tenant)["keys"]

    def cooling(self, d: DriftEvent, cooldown: int) -> bool:
        """Whether `d` comes less than `cooldown` of the tenant's examples after its last
        acting detection. A position that went back (the pool's monitor restarted with a
        recovery) is not cooling: a response then acts rather than being swallowed."""
        acted = self._get(d.tenant)["acted_at"]
        return acted is not None and 0 <= _position(d) - acted < cooldown

    def note(self, d: DriftEvent, acted: bool) -> None:
        entry = self._get(d.tenant)
        keys = [*entry["keys"], _key(d)][-self.MAX_KEYS:]
        acted_at = _position(d) if acted else entry["acted_at"]
        self.store[d.tenant] = {"keys": keys, "acted_at": acted_at}


def _position(d: DriftEvent) -> int:
    return d.training_offset if d.position is None else d.position


def _key(d: DriftEvent) -> str:
    return f"{d.model}|{d.signal}|{d.training_offset}"


def handle(deployment: Deployment, detection: DriftEvent, policy: ResponsePolicy,
           ledger: Ledger) -> tuple[Deployment, Response] | None:
    """`respond`, unless the detection was answered already (None) or comes within the
    cooldown of the tenant's last acting response (then it only alerts).

    >>> from learning.deployment import default_deployment
    >>> d, ledger = default_deployment(), Ledger({})
    >>> from learning.drift import detection
    >>> drift = detection("acme", "logreg", "error", 5000, 900, 100, 0.1, 0.4, position=1000)
    >>> new, r = handle(d, drift, ResponsePolicy("reset"), ledger)
    >>> r.action, handle(new, drift, ResponsePolicy("reset"), ledger)
    ('reset', None)
    >>> import msgspec
    >>> later = msgspec.structs.replace(drift, training_offset=5300, position=1060)
    >>> handle(new, later, ResponsePolicy("reset"), ledger)[1].reason[:30]
    'cooldown: the tenant acted 60 '
    """
    if ledger.seen(detection):
        return None
    if policy.action != "alert" and _acting(detection, deployment) and ledger.cooling(
            detection, policy.cooldown):
        acted = ledger._get(detection.tenant)["acted_at"]
        ledger.note(detection, acted=False)
        return deployment, Response(
            detection.tenant, detection.model, detection.signal, detection.training_offset,
            "alert", f"cooldown: the tenant acted {_position(detection) - acted} of its "
            f"examples ago", deployment.version,
            deployment.version)
    new, response = respond(deployment, detection, policy)
    ledger.note(detection, acted=response.action != "alert")
    return new, response


def policies_from(raw: str | Mapping | None) -> dict[str, ResponsePolicy]:
    """Tenant -> policy from the RENDEZVOUS_DRIFT_RESPONSES JSON ("*" for every other tenant).

    >>> policies_from('{"*": {"action": "reset"}}')["*"].action
    'reset'
    >>> policies_from("")
    {}
    """
    if isinstance(raw, str):
        raw = orjson.loads(raw) if raw.strip() else {}
    return {t: ResponsePolicy.from_dict(p) for t, p in (raw or {}).items()}


class Responder:
    """A serving worker's drift responses: each tenant's policy, the ledger of detections
    answered, and the promotion evaluations open, one per tenant at most.

    >>> from learning.deployment import default_deployment
    >>> r = Responder({"*": ResponsePolicy("promote", window=1)}, {})
    >>> d = default_deployment()
    >>> from learning.drift import detection
    >>> drift = detection("acme", "logreg", "error", 5000, 900, 100, 0.1, 0.4, position=1000)
    >>> new, response = r.decide(d, drift)
    >>> response.action, sorted(r.evaluations)
    ('evaluate', ['acme'])
    >>> r.decide(d, drift) is None  # answered already
    True
    >>> r.on_output("acme", "q1", "logreg", False), r.on_output("acme", "q1", "hoeffding", True)
    (False, False)
    >>> r.on_label("acme", "q1", True)
    True
    >>> r.conclude("acme", new)[1].action
    'promote'
    >>> r.evaluations
    {}
    """

    def __init__(self, policies: Mapping[str, ResponsePolicy], ledger_store: MutableMapping):
        self.policies = dict(policies)
        self.ledger = Ledger(ledger_store)
        self.evaluations: dict[str, tuple[Evaluation, Response]] = {}

    def policy(self, tenant: str) -> ResponsePolicy:
        return self.policies.get(tenant) or self.policies.get("*") or ResponsePolicy()

    def decide(self, current: Deployment,
               detection: DriftEvent) -> tuple[Deployment, Response] | None:
        """The response to a detection, None if it was answered already."""
        policy = self.policy(detection.tenant)
        handled = handle(current, detection, policy, self.ledger)
        if handled is None:
            return None
        response = handled[1]
        # A second alarm while an evaluation is open keeps the open one running.
        if response.action == "evaluate" and detection.tenant not in self.evaluations:
            opened = response.changes["evaluate"]
            self.evaluations[detection.tenant] = (Evaluation(
                response.key, current.task, opened["champion"], tuple(opened["challengers"]),
                policy.window), response)
        return handled

    def on_output(self, tenant: str, request_id: str, model: str, output) -> bool:
        """Feed a model's output to the tenant's open evaluation; whether it is done."""
        opened = self.evaluations.get(tenant)
        if opened is None:
            return False
        opened[0].on_output(request_id, model, output)
        return opened[0].done

    def on_label(self, tenant: str, request_id: str, label) -> bool:
        opened = self.evaluations.get(tenant)
        if opened is None:
            return False
        opened[0].on_label(request_id, label)
        return opened[0].done

    def conclude(self, tenant: str,
                 current: Deployment | None) -> tuple[Deployment, Response] | None:
        """Close the tenant's evaluation once done: the promotion, or keeping the champion."""
        opened = self.evaluations.get(tenant)
        if opened is None or not opened[0].done:
            return None
        evaluation, response = self.evaluations.pop(tenant)
        if current is None:
            return None
        return conclude(current, response, evaluation, self.policy(tenant))
