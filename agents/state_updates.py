"""state_updates: state-updates -> entity state and global context tables, last write wins by (version, ts).

Last write wins by (version, ts); an older update arriving late is ignored, not applied.
"""

from __future__ import annotations

from learning.enrichment import EntityState, merge_state
from schemas import StateUpdate
from tables.writes import entity_key

from .intake import intake


class TenantScopedGlobal(ValueError):
    """Global context comes from tenant "*" only: one tenant's data must not reach the others."""


def only_global_context_is_global(update: StateUpdate) -> None:
    if update.scope == "global" and update.tenant != "*":
        raise TenantScopedGlobal(f"a global update must have tenant '*', not {update.tenant!r}")


def attach(rt) -> None:
    tables = rt.tables

    @rt.app.agent(rt.topics.state_updates, name="apply_state_update")
    async def apply_state_update(stream):
        async for _, update in intake(rt, stream, StateUpdate, stage="state-update",
                                      check=only_global_context_is_global,
                                      rejects=(TenantScopedGlobal,)):
            if update.scope == "global":
                table, key = tables.context, update.entity
            else:
                table, key = tables.entity_state, entity_key(update.tenant, update.entity)
            stored = table.get(key)
            current = EntityState.from_dict(stored) if stored else None
            merged, applied = merge_state(current, update.values, update.version, update.ts)
            if applied:
                table[key] = merged.to_dict()
            rt.stats.count("state_updates_applied" if applied else "state_updates_stale")
