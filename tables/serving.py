"""Tables of the serving app: the external state enrichment injects, and open requests."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from app.settings import Settings


# Names of the serving app's tables; their changelogs are declared with the topics.
TABLE_NAMES = ("entity-state", "aggregates", "context", "deployments", "pending", "awaiting-label",
               "drift-responses")


@dataclass(frozen=True)
class ServingTables:
    entity_state: faust.Table
    """(tenant, entity) -> EntityState dict: last write wins by (version, ts), fed by state-updates."""
    aggregates: faust.Table
    """(tenant, entity) -> rolling-window state of the entity's own events (count, means)."""
    context: faust.Table
    """context name -> EntityState dict of global context; a global table, on every worker."""
    deployments: faust.Table
    """tenant -> deployment dict (models, roles, pools, policy), set by control commands."""
    pending: faust.Table
    """(tenant, request_id) -> open rendezvous slot (learning.policy.Pending dict + partition),
    then, once answered, a ``closed_at`` marker kept for RENDEZVOUS_DEDUPE_WINDOW_S so that an
    event redelivered after a crash is recognised and not answered twice."""
    awaiting_label: faust.Table
    drift_responses: faust.Table
    """(tenant, model, signal, training offset) -> the response already given to that detection,
    so a replayed or redelivered drift event changes nothing twice."""
    """(tenant, request_id) -> enriched text, inline label and served answer, until labelled or TTL."""


def define_serving_tables(app: faust.App, settings: Settings) -> ServingTables:
    def table(name: str, help: str) -> faust.Table:
        return app.Table(name, default=None, partitions=settings.partitions, help=help)

    return ServingTables(
        entity_state=table("entity-state", "per-entity external state"),
        aggregates=table("aggregates", "rolling per-entity aggregates"),
        context=app.GlobalTable("context", default=None, partitions=settings.partitions,
                                help="global context"),
        deployments=table("deployments", "tenant deployments"),
        pending=table("pending", "open rendezvous slots"),
        awaiting_label=table("awaiting-label", "features awaiting a delayed label"),
        drift_responses=table("drift-responses", "responses given to drift detections"),
    )
