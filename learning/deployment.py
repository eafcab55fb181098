"""What a tenant has deployed: its models, their roles and pools, and the serving policy.

A `Deployment` travels as a JSON-safe dict (control commands, tables, records), so
`to_dict` and `from_dict` round-trip exactly and `from_dict` refuses anything that could not
be served, with a reason a human can act on.

"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from dataclasses import KW_ONLY, dataclass, field

import orjson

from learning import zoo
from learning.errors import DeploymentError
from schemas.records import ROLES

__all__ = [
    "ROLES",
    "TASKS",
    "DeploymentError",
    "ModelDeployment",
    "Policy",
    "Deployment",
    "ab_arm",
    "default_deployment",
    "with_rollback",
]

TASKS = ("classification", "regression")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_json(v) -> bool:
    """JSON values that survive a round trip unchanged: tuples would come back as lists and
    NaN as null, so both are refused."""
    if v is None or isinstance(v, bool | int | str):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, list):
        return all(_is_json(e) for e in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_json(e) for k, e in v.items())
    return False


@functools.lru_cache(maxsize=1024)
def _check_params(task: str, spec: str, params_json: bytes) -> str | None:
    # Building the model is the only check that knows every parameter of every spec; the
    # cache keeps a deployment carried on every record from building models each time.
    try:
        zoo.build(spec, task, orjson.loads(params_json))
    except zoo.UnknownSpec as e:
        return str(e)
    return None


@dataclass(frozen=True)
class ModelDeployment:
    """One model of a deployment.

    Parameters
    ----------
    name
        Unique within the deployment; scores, results and metrics are keyed by it.
    spec
        A zoo spec name for the deployment's task.
    params
        Keyword arguments of the spec's model (JSON values).
    role
        One of `ROLES`.
    pool
        The model pool (worker group) that runs the model.
    version
        Bumped when the model is rebuilt from scratch.
    restore_version
        A rollback: the checkpoint version the model's pool restores (learning goes on from
        it). Set with `with_rollback`; None when the model was never rolled back.
    restore_token
        Tells rollbacks apart (the deployment version that carried the rollback), so a pool
        applies each one once although every later deployment still carries it.
    retrain_from
        A drift response's rebuild: the ``training`` offset where the post-drift window
        starts. The pool retrains the fresh model on its tenant's records from there before
        it learns on; None: the rebuilt model starts from nothing.

    """

    name: str
    spec: str
    params: dict = field(default_factory=dict)
    _: KW_ONLY
    role: str
    pool: str = "fast"
    version: int = 1
    restore_version: int | None = None
    restore_token: int | None = None
    retrain_from: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise DeploymentError(f"model name must be a non-empty string, got {self.name!r}")
        where = f"model {self.name!r}"
        if not isinstance(self.spec, str) or not self.spec:
            raise DeploymentError(f"{where}: spec must be a non-empty string, got {self.spec!r}")
        if not isinstance(self.params, dict) or not _is_json(self.params):
            raise DeploymentError(
                f"{where}: params must be a dict of JSON values, got {self.params!r}"
            )
        if self.role not in ROLES:
            raise DeploymentError(f"{where}: role {self.role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(self.pool, str) or not self.pool:
            raise DeploymentError(f"{where}: pool must be a non-empty string, got {self.pool!r}")
        if not _is_int(self.version) or self.version < 1:
            raise DeploymentError(f"{where}: version must be an int >= 1, got {self.version!r}")
        for name in ("restore_version", "restore_token"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise DeploymentError(f"{where}: {name} must be null or an int >= 1, got {value!r}")
        if (self.restore_version is None) != (self.restore_token is None):
            raise DeploymentError(f"{where}: restore_version and restore_token go together")
        if self.retrain_from is not None and (not _is_int(self.retrain_from)
                                              or self.retrain_from < 0):
            raise DeploymentError(
                f"{where}: retrain_from must be null or an int >= 0, got {self.retrain_from!r}")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "spec": self.spec,
            "params": dict(self.params),
            "role": self.role,
            "pool": self.pool,
            "version": self.version,
            # Only when set: deployments that never rolled back keep their exact dicts.
            **({"restore_version": self.restore_version, "restore_token": self.restore_token}
               if self.restore_version is not None else {}),
            **({"retrain_from": self.retrain_from} if self.retrain_from is not None else {}),
        }


@dataclass(frozen=True)
class Policy:
    """How the rendezvous picks the answer of a request.

    Parameters
    ----------
    deadline_ms
        Time after the request within which a result is sent, whoever answered.
    fallback
        Model names in fallback order. Empty means the champion, then challengers, then
        canaries, in deployment order.
    ab_model
        A challenger served instead of the champion to a sticky fraction of entities.
    ab_split
        That fraction, in [0, 1].
    default_output
        Served when no servable model answered by the deadline (a JSON value).

    """

    deadline_ms: float = 50.0
    fallback: tuple[str, ...] = ()
    ab_model: str | None = None
    ab_split: float = 0.0
    default_output: object = None

    def __post_init__(self):
        if isinstance(self.fallback, list):
            object.__setattr__(self, "fallback", tuple(self.fallback))
        if not _is_number(self.deadline_ms) or self.deadline_ms <= 0:
            raise DeploymentError(
                f"policy.deadline_ms must be a number > 0, got {self.deadline_ms!r}"
            )
        names = isinstance(self.fallback, tuple) and all(isinstance(n, str) for n in self.fallback)
        if not names:
            raise DeploymentError(
                f"policy.fallback must be a list of model names, got {self.fallback!r}"
            )
        if self.ab_model is not None and not isinstance(self.ab_model, str):
            raise DeploymentError(
                f"policy.ab_model must be a model name or null, got {self.ab_model!r}"
            )
        if not _is_number(self.ab_split) or not 0 <= self.ab_split <= 1:
            raise DeploymentError(f"policy.ab_split must be in [0, 1], got {self.ab_split!r}")
        if not _is_json(self.default_output):
            raise DeploymentError(
                f"policy.default_output must be a JSON value, got {self.default_output!r}"
            )

    def to_dict(self) -> dict:
        return {
            "deadline_ms": self.deadline_ms,
            "fallback": list(self.fallback),
            "ab_model": self.ab_model,
            "ab_split": self.ab_split,
            "default_output": self.default_output,
        }


@dataclass(frozen=True)
class Deployment:
    """The models of one tenant and the policy that serves them.

    Parameters
    ----------
    task
        One of `TASKS`; every model's spec is looked up in the zoo for this task.
    models
        In deployment order, which is the default fallback order within each role.
    policy
        The serving policy.
    version
        Bumped on every change, so that an unchanged deployment is recognised cheaply.

    Examples
    --------
    >>> d = default_deployment()
    >>> d.champion.name, d.servable(), [m.name for m in d.in_pool("heavy")]
    ('logreg', ('logreg', 'hoeffding', 'baseline'), ['hoeffding'])
    >>> Deployment.from_dict(d.to_dict()) == d
    True
    >>> bad = d.to_dict()
    >>> bad["models"][1]["role"] = "champion"
    >>> Deployment.from_dict(bad)
    Traceback (most recent call last):
    ...
    learning.errors.DeploymentError: expected exactly one champion, found 2: logreg, hoeffding

    """

    task: str
    models: tuple[ModelDeployment, ...]
    policy: Policy
    version: int = 1

    def __post_init__(self):
        if isinstance(self.models, list):
            object.__setattr__(self, "models", tuple(self.models))
        if self.task not in TASKS:
            raise DeploymentError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if not _is_int(self.version) or self.version < 1:
            raise DeploymentError(f"version must be an int >= 1, got {self.version!r}")
        if not isinstance(self.models, tuple) or not all(
            isinstance(m, ModelDeployment) for m in self.models
        ):
            raise DeploymentError("models must be a list of model deployments")
        if not isinstance(self.policy, Policy):
            raise DeploymentError("policy must be a Policy")

        by_name: dict[str, ModelDeployment] = {}
        for m in self.models:
            if m.name in by_name:
                raise DeploymentError(f"duplicate model name {m.name!r}")
            by_name[m.name] = m
            if m.spec not in zoo.SPECS[self.task]:
                known = ", ".join(zoo.SPECS[self.task])
                raise DeploymentError(
                    f"model {m.name!r}: unknown spec {m.spec!r} for {self.task}; known: {known}"
                )
            params_json = orjson.dumps(m.params, option=orjson.OPT_SORT_KEYS)
            reason = _check_params(self.task, m.spec, params_json)
            if reason is not None:
                raise DeploymentError(f"model {m.name!r}: {reason}")

        champions = [m.name for m in self.models if m.role == "champion"]
        if len(champions) != 1:
            found = f"{len(champions)}: {', '.join(champions)}" if champions else "0"
            raise DeploymentError(f"expected exactly one champion, found {found}")

        seen = set()
        for name in self.policy.fallback:
            if name not in by_name:
                raise DeploymentError(f"policy.fallback: {name!r} is not a deployed model")
            if by_name[name].role == "shadow":
                raise DeploymentError(f"policy.fallback: {name!r} is a shadow and is never served")
            if name in seen:
                raise DeploymentError(f"policy.fallback: {name!r} is listed twice")
            seen.add(name)

        ab = self.policy.ab_model
        if ab is not None:
            if ab not in by_name:
                raise DeploymentError(f"policy.ab_model: {ab!r} is not a deployed model")
            if by_name[ab].role != "challenger":
                raise DeploymentError(
                    f"policy.ab_model: {ab!r} must be a challenger, it is a {by_name[ab].role}"
                )

    @property
    def champion(self) -> ModelDeployment:
        return next(m for m in self.models if m.role == "champion")

    def model(self, name: str) -> ModelDeployment:
        """The model called `name`; `KeyError` if there is none."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    def servable(self) -> tuple[str, ...]:
        """Names of the models that may answer a request, in fallback order."""
        if self.policy.fallback:
            return self.policy.fallback
        order = ("champion", "challenger", "canary")
        return tuple(m.name for role in order for m in self.models if m.role == role)

    def in_pool(self, pool: str) -> tuple[ModelDeployment, ...]:
        return tuple(m for m in self.models if m.pool == pool)

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "version": self.version,
            "models": [m.to_dict() for m in self.models],
            "policy": self.policy.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Deployment:
        """Validate and build; `DeploymentError` says what is wrong."""
        d = _fields(d, cls, "deployment")
        models = d.get("models")
        if not isinstance(models, list | tuple):
            raise DeploymentError(f"models must be a list, got {models!r}")
        models = tuple(
            ModelDeployment(**_fields(m, ModelDeployment, f"models[{i}]"))
            for i, m in enumerate(models)
        )
        if "policy" not in d:
            raise DeploymentError("deployment: missing field 'policy'")
        policy = Policy(**_fields(d["policy"], Policy, "policy"))
        return cls(**{**d, "models": models, "policy": policy})


def _fields(d, cls, where: str) -> dict:
    """The keys of `d`, refusing unknown keys (a typo would silently fall back to a default)
    and missing required ones."""
    if not isinstance(d, dict):
        raise DeploymentError(f"{where} must be an object, got {d!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise DeploymentError(f"{where}: unknown field {unknown[0]!r}")
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [k for k in required if k not in d]
    if missing:
        raise DeploymentError(f"{where}: missing field {missing[0]!r}")
    return dict(d)


def ab_arm(tenant: str, entity: str, split: float) -> bool:
    """Whether an entity is in the A/B variant's arm.

    The arm is a stable hash of tenant and entity, not Python's salted `hash`, so that an
    entity stays in its arm across requests, processes and restarts.

    Examples
    --------
    >>> [ab_arm("acme", e, 0.5) for e in ("u1", "u2", "u3", "u4")]
    [True, True, True, False]
    >>> ab_arm("acme", "u1", 0.0), ab_arm("acme", "u1", 1.0)
    (False, True)

    """
    digest = hashlib.blake2b(f"{tenant}\x1f{entity}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < split


def default_deployment(task: str = "classification", deadline_ms: float = 50.0) -> Deployment:
    """A champion, a challenger in the heavy pool and a baseline canary."""
    if task not in TASKS:
        raise DeploymentError(f"task {task!r} is not one of {', '.join(TASKS)}")
    linear = "logreg" if task == "classification" else "linreg"
    return Deployment(
        task=task,
        models=(
            ModelDeployment(linear, linear, role="champion"),
            ModelDeployment(
                "hoeffding", "hoeffding", {"grace_period": 50}, role="challenger", pool="heavy"
            ),
            ModelDeployment("baseline", "baseline", role="canary"),
        ),
        policy=Policy(deadline_ms=deadline_ms, fallback=(linear, "hoeffding", "baseline")),
    )


def with_rollback(deployment: Deployment, model: str, version: int) -> Deployment:
    """`deployment` as its next version, in which `model` is rolled back to checkpoint `version`.

    The pools of the model restore that checkpoint at the first ``training`` record that
    carries this deployment (so replay after a crash restores it at the same record), and
    learning goes on from it. The deployment version is the rollback's token: rolling back
    twice to the same checkpoint is two rollbacks.

    Examples
    --------
    >>> d = with_rollback(default_deployment(), "hoeffding", 3)
    >>> m = d.model("hoeffding")
    >>> d.version, m.restore_version, m.restore_token, m.version
    (2, 3, 2, 1)
    >>> Deployment.from_dict(d.to_dict()) == d
    True
    >>> with_rollback(d, "nope", 1)
    Traceback (most recent call last):
    ...
    learning.errors.DeploymentError: rollback: no model 'nope' in the deployment
    """
    if not _is_int(version) or version < 1:
        raise DeploymentError(f"rollback: version must be an int >= 1, got {version!r}")
    if model not in {m.name for m in deployment.models}:
        raise DeploymentError(f"rollback: no model {model!r} in the deployment")
    token = deployment.version + 1
    models = tuple(
        dataclasses.replace(m, restore_version=version, restore_token=token) if m.name == model
        else m
        for m in deployment.models
    )
    return dataclasses.replace(deployment, models=models, version=token)
