"""state_updates: last write wins by (version, ts); stale updates are ignored."""

from __future__ import annotations

import pytest

from schemas import Enriched
from tables.writes import entity_key

from .conftest import KEY, TENANT, event_bytes, state_update_bytes

EKEY = entity_key(TENANT, "u1")

# (version, ts, balance) in arrival order -> the state kept, and applied/stale counts
ORDERS = [
    ("first-write", [(1, 5.0, 10.0)], (10.0, 1, 5.0), 1, 0),
    ("newer-ts-same-version", [(1, 5.0, 10.0), (1, 6.0, 11.0)], (11.0, 1, 6.0), 2, 0),
    ("older-ts-same-version", [(1, 5.0, 10.0), (1, 4.0, 99.0)], (10.0, 1, 5.0), 1, 1),
    ("redelivered", [(1, 5.0, 10.0), (1, 5.0, 99.0)], (10.0, 1, 5.0), 1, 1),
    ("higher-version-older-ts", [(1, 5.0, 10.0), (2, 1.0, 12.0)], (12.0, 2, 1.0), 2, 0),
    ("lower-version-newer-ts", [(2, 5.0, 10.0), (1, 9.0, 99.0)], (10.0, 2, 5.0), 1, 1),
    ("reordered-three", [(3, 1.0, 30.0), (1, 1.0, 10.0), (2, 1.0, 20.0)], (30.0, 3, 1.0), 1, 2),
]


@pytest.mark.parametrize("updates, kept, applied, stale",
                         [o[1:] for o in ORDERS], ids=[o[0] for o in ORDERS])
async def test_last_write_wins_by_version_then_ts(serving, updates, kept, applied, stale):
    for version, ts, balance in updates:
        await serving.put("apply_state_update",
                          state_update_bytes("u1", version=version, ts=ts,
                                             values={"balance": balance}))

    balance, version, ts = kept
    assert serving.rt.tables.entity_state[EKEY] == {
        "values": {"balance": balance}, "version": version, "ts": ts}
    counts = serving.rt.stats.counts
    assert (counts["state_updates_applied"], counts["state_updates_stale"]) == (applied, stale)
    assert serving.wire.log == []  # nothing is sent for a state update

    await serving.put("enrich_event", event_bytes("r1"))
    [enriched] = serving.wire.records("enriched", Enriched)
    assert (enriched.state, enriched.state_version) == ({"balance": balance}, version)


async def test_a_newer_update_replaces_all_values_not_merges(serving):
    await serving.put("apply_state_update",
                      state_update_bytes("u1", version=1, values={"balance": 1.0, "age": 3.0}))
    await serving.put("apply_state_update",
                      state_update_bytes("u1", version=2, values={"balance": 2.0}))
    assert serving.rt.tables.entity_state[EKEY]["values"] == {"balance": 2.0}


async def test_global_scope_goes_to_the_context_table_with_the_same_rule(serving):
    await serving.put("apply_state_update",
                      state_update_bytes("fx", tenant="*", scope="global", version=2,
                                         values={"usd": 1.2}), key=b"*")
    await serving.put("apply_state_update",
                      state_update_bytes("fx", tenant="*", scope="global", version=1,
                                         values={"usd": 9.9}), key=b"*")
    assert serving.rt.tables.context["fx"] == {"values": {"usd": 1.2}, "version": 2, "ts": 100.0}
    assert not serving.rt.tables.entity_state.data


INVALID = [
    ("bad-json", b"{", "invalid JSON"),
    ("nan-value", b'{"tenant":"acme","entity":"u1","version":1,"ts":1.0,"values":{"b":1e400}}',
     "infinity"),
    ("negative-version", state_update_bytes(version=-1), "version"),
    ("star-tenant-entity-scope", state_update_bytes(tenant="*"), "only allowed with scope global"),
    ("unknown-scope", state_update_bytes(scope="team"), "scope"),
]


@pytest.mark.parametrize("raw, words", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
async def test_invalid_state_update_is_dead_lettered(serving, raw, words):
    await serving.put("apply_state_update", raw)

    assert serving.wire.topics() == ["dead-letter"]
    [dl] = serving.wire.dead_letters()
    assert (dl.stage, dl.origin_topic) == ("state-update", "prod.state-updates")
    assert words in dl.error
    assert not serving.rt.tables.entity_state.data and not serving.rt.tables.context.data


async def test_state_update_whose_key_is_not_its_tenant_is_dead_lettered(serving):
    await serving.put("apply_state_update", state_update_bytes("u1"), key=b"globex")

    assert serving.wire.topics() == ["dead-letter"]
    assert serving.wire.dead_letters()[0].stage == "state-update"
    assert EKEY not in serving.rt.tables.entity_state


async def test_global_update_of_one_tenant_never_reaches_another_tenants_context(serving):
    await serving.put("apply_state_update",
                      state_update_bytes("promo", tenant=TENANT, scope="global",
                                         values={"discount": 0.3}), key=KEY)
    await serving.put("enrich_event", event_bytes("r1", tenant="globex"), key=b"globex")

    [enriched] = serving.wire.records("enriched", Enriched)
    assert enriched.tenant == "globex"
    assert "promo.discount" not in enriched.context
