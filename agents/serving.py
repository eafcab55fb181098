"""The serving app: enrich, state updates, the rendezvous, the decoy, the label join, control
and drift responses. It runs no model."""

from __future__ import annotations

from tables.serving import define_serving_tables

from . import control, decoy, drift, enrich, join_label, rendezvous, state_updates
from .deployments import DeploymentResolver


def attach(rt) -> None:
    rt.tables = define_serving_tables(rt.app, rt.settings.partitions)
    rt.deployments = DeploymentResolver(rt)
    for stage in (rendezvous, enrich, state_updates, join_label, decoy, control, drift):
        stage.attach(rt)
