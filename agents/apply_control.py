"""apply_control: control -> deployments table, in order per tenant."""

from __future__ import annotations

from learning.deployment import Deployment, DeploymentError
from schemas import ControlCommand, InvalidRecord, decode

from .deployments import UnknownTenant
from .keys import KeyMismatch, check_key


class UnsupportedCommand(ValueError):
    """A valid command this version does not apply yet."""


def attach(rt) -> None:
    tables = rt.tables

    @rt.app.agent(rt.topics.control, name="apply_control")
    async def apply_control(stream):
        async for event in stream.events():
            try:
                command = decode(ControlCommand, event.message.value, rt.limits)
                check_key(event.message.key, command.tenant)
                if command.command != "deploy":
                    raise UnsupportedCommand(f"command {command.command!r} is not supported yet")
                try:
                    current_version = rt.deployments.resolve(command.tenant).version
                except UnknownTenant:
                    current_version = 0
                proposed = Deployment.from_dict(command.args.get("deployment", {}))
                # Versions only grow, so pools rebuild exactly the models that changed.
                version = max(proposed.version, current_version + 1)
                deployment = Deployment.from_dict({**proposed.to_dict(), "version": version})
            except (InvalidRecord, KeyMismatch, DeploymentError, UnsupportedCommand) as exc:
                await rt.dead_letter(event.message, exc, stage="control")
                continue
            tables.deployments[command.tenant] = deployment.to_dict()
            rt.stats.count("control_applied", command.tenant)
