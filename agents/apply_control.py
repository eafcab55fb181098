"""apply_control: control -> deployments table, in order per tenant.

Commands come from the ``control`` topic only (the HTTP API and the CLI produce to it), so
one partition orders a tenant's commands and every serving worker agrees on the result.
The semantics are pure (`learning.control`); this agent applies them to the tenant's
current deployment, keeps a short history for rollbacks, and puts a deploy or promotion on
probation: `ControlState.on_score` (called by collect_score) rolls it back automatically,
through a ``rollback`` command on the topic, when a new model's error-score rate over its
first scores is far above the model it replaced.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from learning.control import (CommandError, Probation, apply_command, watched_models)
from learning.deployment import Deployment, DeploymentError
from schemas import ControlCommand, InvalidRecord, decode, encode

from .deployments import UnknownTenant
from .intake import KeyMismatch, check_key

HISTORY = 20  # deployments kept per tenant for `rollback` (in memory: lost on a restart)


class ControlState:
    """What the serving worker remembers of its tenants' control: history, probations, and
    the HTTP requests waiting for their command to be applied."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.history: dict[str, OrderedDict[int, Deployment]] = {}
        self.applied: dict[str, list[dict]] = {}  # tenant -> [{version, command, ...}]
        self.probations: dict[str, Probation] = {}
        self.waiters: dict[str, asyncio.Future] = {}

    def current(self, tenant: str) -> Deployment | None:
        try:
            return self.rt.deployments.resolve(tenant)
        except UnknownTenant:
            return None

    def remember(self, tenant: str, deployment: Deployment, command: str, command_id: str,
                 at: float) -> None:
        history = self.history.setdefault(tenant, OrderedDict())
        if deployment.version not in history:
            history[deployment.version] = deployment
            self.applied.setdefault(tenant, []).append(
                {"version": deployment.version, "command": command, "command_id": command_id,
                 "at": at, "deployment": deployment.to_dict()})
        while len(history) > HISTORY:
            history.popitem(last=False)
            self.applied[tenant].pop(0)

    def versions(self, tenant: str) -> list[dict]:
        return list(self.applied.get(tenant, []))

    def dry_run(self, tenant: str, command: str, args: dict) -> Deployment:
        return apply_command(self.current(tenant), command, args, self.history.get(tenant))

    def settle(self, command_id: str, outcome: dict) -> None:
        waiter = self.waiters.pop(command_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)

    def start_probation(self, tenant: str, before: Deployment, after: Deployment) -> None:
        watched = watched_models(before, after)
        if not watched:
            return
        stats = self.rt.stats.scored.get(tenant, {})
        rates = {}
        for (name, version), (n, errors) in stats.items():
            if name in watched.values() and n:
                rates[name] = errors / n  # the latest version seen wins below
        s = self.rt.settings
        self.probations[tenant] = Probation(
            applied_version=after.version, previous_version=before.version, watched=watched,
            min_scores=s.rollback_min_scores, margin=s.rollback_error_margin,
            baseline_rates=rates)

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
        if verdict.passed:
            rt.stats.event(score.tenant, "probation-passed", version=probation.applied_version,
                           reason=verdict.reason)
            return
        now = time.time()
        command = ControlCommand(
            tenant=score.tenant, command="rollback",
            args={"deployment_version": probation.previous_version,
                  "if_version": probation.applied_version, "reason": verdict.reason,
                  "automatic": True},
            command_id=f"auto-rollback-v{probation.applied_version}", issued_at=now)
        rt.stats.event(score.tenant, "probation-failed", version=probation.applied_version,
                       reason=verdict.reason)
        await rt.topics.control.send(key=score.tenant.encode(), value=encode(command))


def attach(rt) -> None:
    tables = rt.tables
    state = rt.control = ControlState(rt)

    @rt.app.agent(rt.topics.control, name="apply_control")
    async def apply_control(stream):
        async for event in stream.events():
            try:
                command = decode(ControlCommand, event.message.value, rt.limits)
                check_key(event.message.key, command.tenant)
            except (InvalidRecord, KeyMismatch) as exc:
                await rt.dead_letter(event.message, exc, stage="control")
                continue
            await apply(rt, state, tables, command, event)


async def apply(rt, state: ControlState, tables, command: ControlCommand, event) -> None:
    tenant, now = command.tenant, time.time()
    args = dict(command.args)
    automatic = bool(args.pop("automatic", False)) and command.command == "rollback"
    current = state.current(tenant)
    if current is not None:
        state.remember(tenant, current, "initial", "-", now)
    try:
        new = apply_command(current, command.command, args, state.history.get(tenant))
    except (CommandError, DeploymentError) as exc:
        rt.metrics.control_commands.labels(command.command, "rejected").inc()
        rt.stats.count("control_rejected", tenant)
        rt.stats.event(tenant, "rejected", command=command.command,
                       command_id=command.command_id, reason=str(exc))
        state.settle(command.command_id, {"status": "rejected", "reason": str(exc)})
        await rt.dead_letter(event.message, exc, stage="control")
        return
    tables.deployments[tenant] = new.to_dict()
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
