"""control: control -> deployments table, in order per tenant.

Commands come from the ``control`` topic only (the HTTP API and the CLI produce to it), so
one partition orders a tenant's commands and every serving worker agrees on the result.
The semantics are pure (`learning.control`); this agent applies them to the tenant's
current deployment, keeps a short history for rollbacks, and puts a deploy or promotion on
probation: `ControlState.on_score` (called by the rendezvous for every score) rolls it back
automatically, through a ``rollback`` command on the topic, when a new model's error-score
rate over its first scores is far above the model it replaced.
"""

from __future__ import annotations

import asyncio
import time

from learning.control import (CommandError, ControlHistory, Probation, apply_command,
                              probation_for)
from learning.deployment import Deployment, DeploymentError
from schemas import ControlCommand, encode

from .deployments import UnknownTenant
from .intake import intake

HISTORY = 20  # deployments kept per tenant for `rollback`


class ControlState:
    """What the serving worker remembers of its tenants' control: history, probations, and
    the HTTP requests waiting for their command to be applied."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.history = ControlHistory(HISTORY)
        self.probations: dict[str, Probation] = {}
        self.waiters: dict[str, asyncio.Future] = {}

    def current(self, tenant: str) -> Deployment | None:
        try:
            return self.rt.deployments.resolve(tenant)
        except UnknownTenant:
            return None

    def remember(self, tenant: str, deployment: Deployment, command: str, command_id: str,
                 at: float) -> None:
        self.history.remember(tenant, deployment, command, command_id, at)

    def versions(self, tenant: str) -> list[dict]:
        return self.history.versions(tenant)

    def dry_run(self, tenant: str, command: str, args: dict) -> Deployment:
        return apply_command(self.current(tenant), command, args, self.history.of(tenant))

    def settle(self, command_id: str, outcome: dict) -> None:
        waiter = self.waiters.pop(command_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)

    def start_probation(self, tenant: str, before: Deployment, after: Deployment) -> None:
        s = self.rt.settings
        probation = probation_for(before, after, self.rt.stats.scored.get(tenant, {}),
                                  s.rollback_min_scores, s.rollback_error_margin)
        if probation is not None:
            self.probations[tenant] = probation

    async def on_score(self, score) -> None:
        """Every score the rendezvous receives: tallies, and the probation's verdict."""
        rt = self.rt
        rt.stats.score_seen(score.tenant, score.model, score.version, score.error is not None)
        rt.metrics.scores_received.labels(score.role, "error" if score.error else "ok").inc()
        probation = self.probations.get(score.tenant)
        if probation is None:
            return
        verdict = probation.observe(score.model, score.version, score.error is not None)
        if verdict is None:
            return
        del self.probations[score.tenant]
        event = "probation-passed" if verdict.passed else "probation-failed"
        rt.stats.event(score.tenant, event, version=probation.applied_version,
                       reason=verdict.reason)
        if verdict.passed:
            return
        command = ControlCommand(
            tenant=score.tenant, command="rollback",
            args={"deployment_version": probation.previous_version,
                  "if_version": probation.applied_version, "reason": verdict.reason,
                  "automatic": True},
            command_id=f"auto-rollback-v{probation.applied_version}", issued_at=time.time())
        await rt.topics.control.send(key=score.tenant.encode(), value=encode(command))


def attach(rt) -> None:
    state = rt.control = ControlState(rt)

    @rt.app.agent(rt.topics.control, name="apply_control")
    async def apply_control(stream):
        async for message, command in intake(rt, stream, ControlCommand, stage="control"):
            await apply(rt, state, command, message)


async def apply(rt, state: ControlState, command: ControlCommand, message) -> None:
    tenant, now = command.tenant, time.time()
    args = dict(command.args)
    automatic = bool(args.pop("automatic", False)) and command.command == "rollback"
    current = state.current(tenant)
    if current is not None:
        state.remember(tenant, current, "initial", "-", now)
    try:
        new = apply_command(current, command.command, args, state.history.of(tenant))
    except (CommandError, DeploymentError) as exc:
        rt.metrics.control_commands.labels(command.command, "rejected").inc()
        rt.stats.count("control_rejected", tenant)
        rt.stats.event(tenant, "rejected", command=command.command,
                       command_id=command.command_id, reason=str(exc))
        state.settle(command.command_id, {"status": "rejected", "reason": str(exc)})
        await rt.dead_letter(message, exc, stage="control")
        return
    rt.tables.deployments[tenant] = new.to_dict()
    state.remember(tenant, new, command.command, command.command_id, now)
    rt.metrics.control_commands.labels(command.command, "applied").inc()
    rt.stats.count("control_applied", tenant)
    if command.command == "rollback":
        rt.metrics.rollbacks.labels("automatic" if automatic else "manual").inc()
        state.probations.pop(tenant, None)
        rt.stats.event(tenant, "rolled-back", command=command.command,
                       command_id=command.command_id, version=new.version,
                       automatic=automatic, reason=args.get("reason", "requested"))
    else:
        rt.stats.event(tenant, "applied", command=command.command,
                       command_id=command.command_id, version=new.version)
        if command.command in ("deploy", "promote") and current is not None:
            state.start_probation(tenant, current, new)
    state.settle(command.command_id, {"status": "applied", "deployment": new.to_dict()})
