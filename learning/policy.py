"""The rendezvous decision as pure functions of (pending request, score or clock).

The serving app keeps a `Pending` per open request in a table and calls `on_score` for each
score and `on_deadline` from a timer; whichever first returns a `Decision` is the request's
one result. Being pure, the policy is tested without a broker or a clock.

"""

from __future__ import annotations

from dataclasses import dataclass, replace

from learning.deployment import Deployment, ab_arm
from schemas.records import REASONS

__all__ = [
    "REASONS",
    "ScoreView",
    "Pending",
    "Decision",
    "open_request",
    "on_score",
    "on_deadline",
]


@dataclass(frozen=True)
class ScoreView:
    """What the rendezvous needs to know of one model's score."""

    model: str
    version: int
    role: str
    output: object
    error: str | None

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "role": self.role,
            "output": self.output,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ScoreView:
        return cls(**d)


@dataclass(frozen=True)
class Pending:
    """An open request: who may answer it, until when, and the scores seen so far.

    Parameters
    ----------
    tenant, request_id, entity
        The request.
    opened_at
        Request time, epoch seconds.
    deadline_at
        Epoch seconds at which the best available answer is served.
    primary
        The model to serve: the champion, or the A/B variant for entities in its arm.
    primary_reason
        "champion" or "ab-variant".
    fallback
        Servable model names, in fallback order (shadows are never in it).
    default_output
        Served when no servable model answered.
    scores
        Scores received, in arrival order.

    """

    tenant: str
    request_id: str
    entity: str
    opened_at: float
    deadline_at: float
    primary: str
    primary_reason: str
    fallback: tuple[str, ...]
    default_output: object
    scores: tuple[ScoreView, ...] = ()

    def score(self, model: str) -> ScoreView | None:
        for s in self.scores:
            if s.model == model:
                return s
        return None

    def to_dict(self) -> dict:
        return {
            "tenant": self.tenant,
            "request_id": self.request_id,
            "entity": self.entity,
            "opened_at": self.opened_at,
            "deadline_at": self.deadline_at,
            "primary": self.primary,
            "primary_reason": self.primary_reason,
            "fallback": list(self.fallback),
            "default_output": self.default_output,
            "scores": [s.to_dict() for s in self.scores],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Pending:
        return cls(
            **{
                **d,
                "fallback": tuple(d["fallback"]),
                "scores": tuple(ScoreView.from_dict(s) for s in d["scores"]),
            }
        )


@dataclass(frozen=True)
class Decision:
    """The one result of a request; `model` is None when the default output is served."""

    model: str | None
    version: int | None
    role: str | None
    output: object
    reason: str


def open_request(
    tenant: str, request_id: str, entity: str, requested_at: float, deployment: Deployment
) -> Pending:
    """Open a request under the tenant's deployment.

    Examples
    --------
    >>> from learning.deployment import default_deployment
    >>> p = open_request("acme", "r1", "u1", 100.0, default_deployment())
    >>> p.primary, p.primary_reason, p.deadline_at, p.fallback
    ('logreg', 'champion', 100.05, ('logreg', 'hoeffding', 'baseline'))

    """
    policy = deployment.policy
    if policy.ab_model is not None and ab_arm(tenant, entity, policy.ab_split):
        primary, reason = policy.ab_model, "ab-variant"
    else:
        primary, reason = deployment.champion.name, "champion"
    return Pending(
        tenant=tenant,
        request_id=request_id,
        entity=entity,
        opened_at=requested_at,
        deadline_at=requested_at + policy.deadline_ms / 1000,
        primary=primary,
        primary_reason=reason,
        fallback=deployment.servable(),
        default_output=policy.default_output,
    )


def _decide(s: ScoreView, reason: str) -> Decision:
    return Decision(s.model, s.version, s.role, s.output, reason)


def _best(p: Pending) -> ScoreView | None:
    """The first answer without error: the primary's, then by fallback order."""
    order = (p.primary, *(name for name in p.fallback if name != p.primary))
    for name in order:
        s = p.score(name)
        if s is not None and s.error is None:
            return s
    return None


def on_score(p: Pending, s: ScoreView, now: float) -> tuple[Pending, Decision | None]:
    """Record a score; decide if the primary answered, or if it failed and a fallback did.

    Examples
    --------
    >>> from learning.deployment import default_deployment
    >>> p = open_request("acme", "r1", "u1", 100.0, default_deployment())
    >>> p, d = on_score(p, ScoreView("baseline", 1, "canary", False, None), now=100.01)
    >>> d is None
    True
    >>> failed = ScoreView("logreg", 1, "champion", None, "RuntimeError: boom")
    >>> p, d = on_score(p, failed, now=100.02)
    >>> d
    Decision(model='baseline', version=1, role='canary', output=False, reason='fallback-error')

    """
    if p.score(s.model) is not None:
        return p, None
    p = replace(p, scores=(*p.scores, s))
    if now >= p.deadline_at:
        return on_deadline(p, now)
    if s.model == p.primary and s.error is None:
        return p, _decide(s, p.primary_reason)
    primary = p.score(p.primary)
    if primary is not None and primary.error is not None:
        best = _best(p)
        if best is not None:
            return p, _decide(best, "fallback-error")
    return p, None


def on_deadline(p: Pending, now: float) -> tuple[Pending, Decision | None]:
    """At or after the deadline, serve the best available answer, else the default.

    Examples
    --------
    >>> from learning.deployment import default_deployment
    >>> p = open_request("acme", "r1", "u1", 100.0, default_deployment())
    >>> on_deadline(p, now=100.0)[1] is None
    True
    >>> on_deadline(p, now=100.05)[1]
    Decision(model=None, version=None, role=None, output=None, reason='default')

    """
    if now < p.deadline_at:
        return p, None
    best = _best(p)
    if best is None:
        return p, Decision(None, None, None, p.default_output, "default")
    return p, _decide(best, "fallback-deadline")
