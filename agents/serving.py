"""The serving app: enrich, rendezvous, decoy, the label join and control."""

from __future__ import annotations

from tables.serving import define_serving_tables

from . import (apply_control, apply_state_update, collect_score, enrich_event, expire_deadlines,
               join_label, log_decoy)
from .deployments import DeploymentResolver


def attach(rt) -> None:
    rt.tables = define_serving_tables(rt.app, rt.settings)
    rt.deployments = DeploymentResolver(rt)
    for agent in (expire_deadlines, enrich_event, apply_state_update, collect_score, join_label,
                  log_decoy, apply_control):
        agent.attach(rt)
    from . import record_drift  # issue 6: drift events for the ops page and metrics

    record_drift.attach(rt)
    from . import respond_to_drift  # issue 4: alert, reset, promote or roll back on drift

    respond_to_drift.attach(rt)
