"""Control commands as pure functions of a tenant's deployment, and the probation that rolls
back a deploy or promotion whose new model fails.

`apply_command(current, command, args)` returns the new `Deployment` or raises a
`CommandError` whose message is the reason, and nothing changes. Every change bumps the
deployment version; a model whose spec, params or pool change is rebuilt under a new model
version, while a role change (a promotion) keeps the model and its learned state.

Commands (``args`` in brackets):

- ``deploy`` [``deployment``: a whole deployment] or [``model``: one model, from the zoo,
  with params, role and pool]: a new champion demotes the old one to challenger.
- ``promote`` [``model``, ``role`` = "champion" or "challenger"].
- ``retire`` [``model``]: never the champion.
- ``set-policy`` [any of ``deadline_ms``, ``fallback``, ``ab_model``, ``ab_split``,
  ``default_output``].
- ``rollback`` [``deployment_version``, optional ``if_version`` and ``reason``]: back to an
  earlier deployment of this tenant (from `history`); or [``model``, ``version``]: a model
  back to a checkpoint (``learning.deployment.with_rollback``).

"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from learning.deployment import Deployment, ModelDeployment, Policy, with_rollback
from learning.errors import DeploymentError
from schemas.records import COMMANDS

__all__ = [
    "COMMANDS",
    "CommandError",
    "BadArguments",
    "UnknownModel",
    "NotAllowed",
    "RollbackUnavailable",
    "Superseded",
    "apply_command",
    "revert",
    "watched_models",
    "Probation",
    "Verdict",
    "ControlHistory",
    "probation_for",
]

POLICY_FIELDS = tuple(f.name for f in dataclasses.fields(Policy))


class CommandError(ValueError):
    """A command that cannot be applied; ``str(error)`` is the reason."""

    @property
    def reason(self) -> str:
        return str(self)


class BadArguments(CommandError):
    """The command's arguments are missing, unknown or of the wrong type, or the deployment
    they would make is not servable."""


class UnknownModel(CommandError):
    """The command names a model the tenant has not deployed."""


class NotAllowed(CommandError):
    """The command is well formed but not allowed now (retire the champion, no change...)."""


class RollbackUnavailable(CommandError):
    """The version to roll back to is not known here (or checkpoints are not available)."""


class Superseded(CommandError):
    """A conditional command (an automatic rollback) whose deployment has moved on."""


def apply_command(current: Deployment | None, command: str, args: Mapping,
                  history: Mapping[int, Deployment] | None = None) -> Deployment:
    """The tenant's deployment after `command`; `CommandError` says why not.

    Examples
    --------
    >>> from learning.deployment import default_deployment
    >>> d = default_deployment()
    >>> p = apply_command(d, "promote", {"model": "hoeffding"})
    >>> p.version, p.champion.name, p.model("logreg").role, p.policy.fallback[0]
    (2, 'hoeffding', 'challenger', 'hoeffding')
    >>> apply_command(d, "retire", {"model": "logreg"})
    Traceback (most recent call last):
    ...
    learning.control.NotAllowed: cannot retire the champion 'logreg': promote another model first
    >>> apply_command(d, "set-policy", {"deadline_ms": -1})
    Traceback (most recent call last):
    ...
    learning.control.BadArguments: policy.deadline_ms must be a number > 0, got -1

    """
    if not isinstance(args, Mapping):
        raise BadArguments(f"args must be an object, got {type(args).__name__}")
    handler = _HANDLERS.get(command)
    if handler is None:
        raise BadArguments(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
    if current is None and command != "deploy":
        raise NotAllowed(f"{command}: the tenant has no deployment; deploy one first")
    try:
        new = handler(current, dict(args), history or {})
    except DeploymentError as exc:
        raise BadArguments(str(exc)) from None
    if current is not None and _same(current, new):
        raise NotAllowed(f"{command}: the command changes nothing")
    return new


# --- helpers --------------------------------------------------------------------------------

def _only(args: dict, command: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()):
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise BadArguments(f"{command}: unknown argument {unknown[0]!r}; "
                           f"expected {', '.join(allowed)}")
    missing = [k for k in required if k not in args]
    if missing:
        raise BadArguments(f"{command}: missing argument {missing[0]!r}")


def _name(args: dict, command: str) -> str:
    name = args.get("model")
    if not isinstance(name, str) or not name:
        raise BadArguments(f"{command}: 'model' must be a model name, got {name!r}")
    return name


def _model(d: Deployment, name: str, command: str) -> ModelDeployment:
    try:
        return d.model(name)
    except KeyError:
        known = ", ".join(m.name for m in d.models)
        raise UnknownModel(f"{command}: no model {name!r}; deployed: {known}") from None


def _same(a: Deployment, b: Deployment) -> bool:
    return a.to_dict() | {"version": 0} == b.to_dict() | {"version": 0}


def _build(current: Deployment | None, task: str, models, policy: Policy,
           version: int | None = None) -> Deployment:
    """A deployment one version past `current`, with model versions bumped where rebuilt."""
    models = tuple(_versioned(current, m) for m in models)
    nxt = (current.version + 1) if current is not None else 1
    return Deployment(task=task, models=models, policy=policy, version=max(nxt, version or 0))


def _versioned(current: Deployment | None, m: ModelDeployment) -> ModelDeployment:
    """Keep the running model's version when only its role changed; a rebuilt model (spec,
    params or pool changed) gets a version past the running one, so pools rebuild it."""
    if current is None:
        return m
    try:
        old = current.model(m.name)
    except KeyError:
        return m
    if (old.spec, old.params, old.pool) == (m.spec, m.params, m.pool):
        return dataclasses.replace(m, version=max(old.version, m.version))
    return dataclasses.replace(m, version=max(old.version + 1, m.version))


def _with_fallback(policy: Policy, fallback: list[str], **changes) -> Policy:
    return dataclasses.replace(policy, fallback=tuple(fallback), **changes)


# --- commands -------------------------------------------------------------------------------

def _deploy(current: Deployment | None, args: dict, history) -> Deployment:
    if ("deployment" in args) == ("model" in args):
        raise BadArguments("deploy: give either 'deployment' (a whole deployment) or 'model' "
                           "(one model)")
    if "deployment" in args:
        _only(args, "deploy", ("deployment",))
        proposed = Deployment.from_dict(args["deployment"])
        if current is not None and proposed.task != current.task:
            raise BadArguments(f"deploy: task {proposed.task!r} differs from the tenant's "
                               f"{current.task!r}")
        return _build(current, proposed.task, proposed.models, proposed.policy, proposed.version)
    _only(args, "deploy", ("model",))
    if current is None:
        raise NotAllowed("deploy: the tenant has no deployment; deploy a whole one first")
    spec = args["model"]
    if not isinstance(spec, dict):
        raise BadArguments(f"deploy: 'model' must be an object, got {spec!r}")
    spec = {"params": {}, "pool": "fast", "version": 1, **spec}
    known = {f.name for f in dataclasses.fields(ModelDeployment)}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise BadArguments(f"deploy: model: unknown field {unknown[0]!r}")
    for required in ("name", "spec", "role"):
        if required not in spec:
            raise BadArguments(f"deploy: model: missing field {required!r}")
    new = ModelDeployment(**spec)
    models = []
    replaced = False
    for m in current.models:
        if m.name == new.name:
            models.append(new)
            replaced = True
        elif new.role == "champion" and m.role == "champion":
            models.append(dataclasses.replace(m, role="challenger"))
        else:
            models.append(m)
    if not replaced:
        models.append(new)
    policy = current.policy
    fallback = [n for n in policy.fallback if n != new.name]
    if policy.fallback:
        if new.role == "champion":
            fallback.insert(0, new.name)
        elif new.role != "shadow":
            fallback.append(new.name)
    changes = {}
    if policy.ab_model == new.name and new.role != "challenger":
        changes = {"ab_model": None, "ab_split": 0.0}
    return _build(current, current.task, models, _with_fallback(policy, fallback, **changes))


def _promote(current: Deployment, args: dict, history) -> Deployment:
    _only(args, "promote", ("model", "role"), ("model",))
    name = _name(args, "promote")
    role = args.get("role", "champion")
    if role not in ("champion", "challenger"):
        raise BadArguments(f"promote: role must be champion or challenger, got {role!r}")
    target = _model(current, name, "promote")
    if target.role == role:
        raise NotAllowed(f"promote: {name!r} is already the {role}")
    if target.role == "champion":
        raise NotAllowed(f"promote: {name!r} is the champion; promote another model instead")
    models = []
    for m in current.models:
        if m.name == name:
            models.append(dataclasses.replace(m, role=role))
        elif role == "champion" and m.role == "champion":
            models.append(dataclasses.replace(m, role="challenger"))
        else:
            models.append(m)
    policy = current.policy
    fallback = list(policy.fallback)
    if fallback:
        if role == "champion":
            fallback = [name, *(n for n in fallback if n != name)]
        elif name not in fallback:
            fallback.append(name)
    changes = {}
    if role == "champion" and policy.ab_model == name:
        changes = {"ab_model": None, "ab_split": 0.0}
    return _build(current, current.task, models, _with_fallback(policy, fallback, **changes))


def _retire(current: Deployment, args: dict, history) -> Deployment:
    _only(args, "retire", ("model",), ("model",))
    name = _name(args, "retire")
    target = _model(current, name, "retire")
    if target.role == "champion":
        raise NotAllowed(f"cannot retire the champion {name!r}: promote another model first")
    policy = current.policy
    changes = {"ab_model": None, "ab_split": 0.0} if policy.ab_model == name else {}
    return _build(current, current.task, [m for m in current.models if m.name != name],
                  _with_fallback(policy, [n for n in policy.fallback if n != name], **changes))


def _set_policy(current: Deployment, args: dict, history) -> Deployment:
    if not args:
        raise BadArguments(f"set-policy: give at least one of {', '.join(POLICY_FIELDS)}")
    _only(args, "set-policy", POLICY_FIELDS)
    policy = Policy(**{**current.policy.to_dict(), **args})
    return _build(current, current.task, current.models, policy)


def _rollback(current: Deployment, args: dict, history) -> Deployment:
    if "deployment_version" in args:
        _only(args, "rollback", ("deployment_version", "if_version", "reason"))
        want = args["deployment_version"]
        if not isinstance(want, int) or isinstance(want, bool):
            raise BadArguments(f"rollback: deployment_version must be an int, got {want!r}")
        if "if_version" in args and args["if_version"] != current.version:
            raise Superseded(f"rollback: the deployment is at version {current.version}, not "
                             f"{args['if_version']}; a later command superseded this rollback")
        if want >= current.version:
            raise BadArguments(f"rollback: deployment_version {want} is not before the current "
                               f"version {current.version}")
        if want not in history:
            known = ", ".join(str(v) for v in sorted(history)) or "none"
            raise RollbackUnavailable(f"rollback: deployment version {want} is not in this "
                                      f"worker's history (known: {known})")
        return revert(current, history[want])
    _only(args, "rollback", ("model", "version", "reason"), ("model", "version"))
    name = _name(args, "rollback")
    _model(current, name, "rollback")
    version = args["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadArguments(f"rollback: version must be an int >= 1, got {version!r}")
    rolled = with_rollback(current, name, version)
    return dataclasses.replace(rolled, version=max(rolled.version, current.version + 1))


def revert(current: Deployment, previous: Deployment) -> Deployment:
    """`previous`'s models and policy as a new version of `current`.

    A model that kept its spec, params and pool keeps its state (only its role goes back);
    one that changed is rebuilt under a new model version.

    >>> from learning.deployment import default_deployment
    >>> d = default_deployment()
    >>> p = apply_command(d, "promote", {"model": "hoeffding"})
    >>> r = revert(p, d)
    >>> r.version, r.champion.name, [m.version for m in r.models]
    (3, 'logreg', [1, 1, 1])
    """
    return _build(current, previous.task, previous.models, previous.policy)


_HANDLERS = {"deploy": _deploy, "promote": _promote, "retire": _retire,
             "set-policy": _set_policy, "rollback": _rollback}


# --- probation: automatic rollback of a failing deploy or promotion -------------------------

def watched_models(before: Deployment, after: Deployment) -> dict[tuple[str, int], str | None]:
    """(model, version) -> the model it is compared with, for a deploy or promotion.

    A new or rebuilt model is compared with the model of that name it replaced, else with the
    champion before the change; a new champion with the champion it replaced.

    >>> from learning.deployment import default_deployment
    >>> d = default_deployment()
    >>> watched_models(d, apply_command(d, "promote", {"model": "hoeffding"}))
    {('hoeffding', 1): 'logreg'}
    """
    watched: dict[tuple[str, int], str | None] = {}
    old = {m.name: m for m in before.models}
    for m in after.models:
        prev = old.get(m.name)
        if prev is None or prev.version != m.version:
            watched[(m.name, m.version)] = m.name if prev is not None else before.champion.name
    if after.champion.name != before.champion.name:
        watched[(after.champion.name, after.champion.version)] = before.champion.name
    return watched


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


@dataclass
class Probation:
    """Error-score rates of the models a command introduced, over their first `min_scores`
    scores, against the models they replaced.

    `baseline_rates` holds each compared model's error rate before the change (used when it
    no longer scores, e.g. the old version of a rebuilt model); scores of the compared model
    during the probation take precedence.

    >>> p = Probation(applied_version=2, previous_version=1, watched={("new", 1): "old"},
    ...               min_scores=3, margin=0.5)
    >>> [p.observe("old", 4, error=False) for _ in range(3)]
    [None, None, None]
    >>> p.observe("new", 1, error=True), p.observe("new", 1, error=True)
    (None, None)
    >>> p.observe("new", 1, error=True)
    Verdict(passed=False, reason="model 'new' v1: 3 of its first 3 scores failed (100%), against 0% for 'old'")
    """

    applied_version: int
    previous_version: int
    watched: dict
    min_scores: int
    margin: float
    baseline_rates: dict = field(default_factory=dict)
    tallies: dict = field(default_factory=dict)  # (model, version) -> [n, errors]
    baselines: dict = field(default_factory=dict)  # model name -> [n, errors]
    done: set = field(default_factory=set)

    def observe(self, model: str, version: int, error: bool) -> Verdict | None:
        """Count one score; a verdict once every watched model has `min_scores` (a failure
        as soon as one model fails)."""
        key = (model, version)
        if key in self.watched:
            if key in self.done:
                return None
            tally = self.tallies.setdefault(key, [0, 0])
            tally[0] += 1
            tally[1] += bool(error)
            if tally[0] >= self.min_scores:
                self.done.add(key)
                baseline = self.watched[key]
                rate = tally[1] / tally[0]
                base = self._baseline_rate(baseline)
                if rate - base >= self.margin:
                    return Verdict(False, (
                        f"model {model!r} v{version}: {tally[1]} of its first {tally[0]} scores "
                        f"failed ({rate:.0%}), against {base:.0%} for {baseline!r}"))
                if len(self.done) == len(self.watched):
                    return Verdict(True, "every new model scored within the error margin")
            return None
        if any(b == model for b in self.watched.values()) and (model, version) not in self.watched:
            tally = self.baselines.setdefault(model, [0, 0])
            tally[0] += 1
            tally[1] += bool(error)
        return None

    def _baseline_rate(self, baseline: str | None) -> float:
        tally = self.baselines.get(baseline)
        if tally and tally[0]:
            return tally[1] / tally[0]
        return self.baseline_rates.get(baseline, 0.0)


def probation_for(before: Deployment, after: Deployment, scored: Mapping, min_scores: int,
                  margin: float) -> Probation | None:
    """The probation of a change, None when it introduced no model; `scored` maps
    (model, version) to [scores, errors] seen before the change.

    >>> from learning.deployment import default_deployment
    >>> d = default_deployment()
    >>> p = probation_for(d, apply_command(d, "promote", {"model": "hoeffding"}),
    ...                   {("logreg", 1): (4, 1)}, min_scores=20, margin=0.5)
    >>> p.watched, p.baseline_rates, p.applied_version, p.previous_version
    ({('hoeffding', 1): 'logreg'}, {'logreg': 0.25}, 2, 1)
    >>> probation_for(d, d, {}, 20, 0.5) is None
    True
    """
    watched = watched_models(before, after)
    if not watched:
        return None
    rates = {}
    for (name, _), (n, errors) in scored.items():
        if name in watched.values() and n:
            rates[name] = errors / n  # the latest version seen wins
    return Probation(applied_version=after.version, previous_version=before.version,
                     watched=watched, min_scores=min_scores, margin=margin,
                     baseline_rates=rates)


class ControlHistory:
    """Per tenant, the last `keep` deployments (what ``rollback`` can restore) and how each
    came to be; in memory, so lost on a restart.

    >>> from learning.deployment import default_deployment
    >>> h = ControlHistory(keep=2)
    >>> d = default_deployment()
    >>> for cmd in ("initial", "promote", "retire"):
    ...     h.remember("acme", d, cmd, "c", 1.0)
    ...     d = apply_command(d, "promote", {"model": "hoeffding" if d.version % 2 else "logreg"})
    >>> sorted(h.of("acme")), [v["command"] for v in h.versions("acme")]
    ([2, 3], ['promote', 'retire'])
    """

    def __init__(self, keep: int = 20) -> None:
        self.keep = keep
        self._deployments: dict[str, dict[int, Deployment]] = {}
        self._applied: dict[str, list[dict]] = {}

    def remember(self, tenant: str, deployment: Deployment, command: str, command_id: str,
                 at: float) -> None:
        history = self._deployments.setdefault(tenant, {})
        if deployment.version not in history:
            history[deployment.version] = deployment
            self._applied.setdefault(tenant, []).append(
                {"version": deployment.version, "command": command, "command_id": command_id,
                 "at": at, "deployment": deployment.to_dict()})
        while len(history) > self.keep:
            del history[next(iter(history))]
            self._applied[tenant].pop(0)

    def of(self, tenant: str) -> dict[int, Deployment] | None:
        return self._deployments.get(tenant)

    def versions(self, tenant: str) -> list[dict]:
        return list(self._applied.get(tenant, []))
