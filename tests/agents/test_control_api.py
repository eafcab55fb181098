"""The control and read API in process (aiohttp test client on the Faust web app, no broker):
auth, 400 reasons, what is produced to the control topic, and every read endpoint."""

from __future__ import annotations

from unittest import mock

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.control_api import authorized, tenant_partition
from schemas import ControlCommand

from .conftest import TENANT, deployment_dict, event_bytes

TOKEN = "rendezvous-dev-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MUTATIONS = [("post", "/api/tenants/acme/commands", {"command": "promote",
                                                      "args": {"model": "hoeffding"}}),
             ("post", "/api/tenants/acme/deploy", {"deployment": deployment_dict()}),
             ("post", "/api/tenants/acme/promote", {"model": "hoeffding"}),
             ("post", "/api/tenants/acme/retire", {"model": "baseline"}),
             ("post", "/api/tenants/acme/rollback", {"deployment_version": 1}),
             ("put", "/api/tenants/acme/policy", {"deadline_ms": 80.0})]


@pytest.fixture
async def api(serving):
    client = TestClient(TestServer(serving.app.web.web_app))
    await client.start_server()
    yield serving, client
    await client.close()


def own_every_partition(h):
    """Make this worker the owner of every control partition (as a lone serving worker is)."""
    from faust.types import TP

    name = h.rt.topics.control.get_topic_name()
    owned = {TP(name, p) for p in range(h.rt.settings.partitions)}
    return mock.patch.object(h.app.assignor, "assigned_actives", return_value=owned)


def test_authorized_needs_the_exact_bearer_token():
    assert authorized({"Authorization": f"Bearer {TOKEN}"}, TOKEN)
    assert authorized({"Authorization": f"bearer {TOKEN}"}, TOKEN)
    assert not authorized({}, TOKEN)
    assert not authorized({"Authorization": TOKEN}, TOKEN)
    assert not authorized({"Authorization": f"Bearer {TOKEN}x"}, TOKEN)
    assert not authorized({"Authorization": f"Basic {TOKEN}"}, TOKEN)


def test_tenant_partition_is_the_producers():
    from aiokafka.partitioner import murmur2

    assert tenant_partition("acme", 4) == (murmur2(b"acme") & 0x7FFFFFFF) % 4


@pytest.mark.parametrize("method, path, body", MUTATIONS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-xxxxxxxx"},
                                     {"Authorization": TOKEN}])
async def test_mutations_need_the_token(api, method, path, body, headers):
    h, client = api
    r = await getattr(client, method)(path, data=orjson.dumps(body), headers=headers)
    assert r.status == 401
    assert (await r.json()) == {"error": "missing or wrong bearer token"}
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert h.wire.of("control") == []


@pytest.mark.parametrize("method, path, body, reason", [
    ("post", "/api/tenants/acme/promote", b"{not json", "body is not JSON"),
    ("post", "/api/tenants/acme/promote", b"[1]", "body must be a JSON object"),
    ("post", "/api/tenants/acme/commands", b'{"command": "explode"}', "command must be one of"),
    ("post", "/api/tenants/acme/commands", b'{"command": "retire", "x": 1}',
     "unknown field 'x'"),
    ("post", "/api/tenants/acme/commands", b'{"command": "retire", "args": []}',
     "args: expected an object"),
    ("post", "/api/tenants/acme/promote", b'{"model": "nope"}', "promote: no model 'nope'"),
    ("post", "/api/tenants/acme/promote", b'{"model": "logreg"}', "already the champion"),
    ("post", "/api/tenants/acme/retire", b'{"model": "logreg"}', "cannot retire the champion"),
    ("post", "/api/tenants/acme/retire", b'{}', "retire: missing argument 'model'"),
    ("post", "/api/tenants/acme/deploy", b'{"model": {"name": "m", "spec": "zzz", '
                                         b'"role": "challenger"}}', "unknown spec 'zzz'"),
    ("post", "/api/tenants/acme/deploy", b'{}', "give either 'deployment'"),
    ("post", "/api/tenants/acme/rollback", b'{"model": "nope", "version": 1}',
     "rollback: no model 'nope'"),
    ("post", "/api/tenants/acme/rollback", b'{"deployment_version": 9}',
     "deployment_version 9 is not before the current version 1"),
    ("put", "/api/tenants/acme/policy", b'{"ab_split": 2}', "policy.ab_split must be in [0, 1]"),
    ("put", "/api/tenants/acme/policy", b'{"fallback": ["ghost"]}',
     "policy.fallback: 'ghost' is not a deployed model"),
    ("put", "/api/tenants/acme/policy", b'{"deadline_ms": 50.0}', "changes nothing"),
    ("post", "/api/tenants/a%09b/promote", b'{"model": "hoeffding"}',
     "tenant: a tenant id is 1 to 64 letters, digits, '.', '_' or '-'"),
])
async def test_invalid_commands_are_400_with_the_reason_and_nothing_is_produced(
        api, method, path, body, reason):
    h, client = api
    with own_every_partition(h):
        r = await getattr(client, method)(path, data=body, headers=AUTH)
    assert r.status == 400, await r.text()
    assert reason in (await r.json())["error"]
    assert h.wire.of("control") == []


async def test_a_tenant_owned_elsewhere_is_produced_and_accepted(api):
    h, client = api  # no partition assigned: another serving worker owns the tenant
    r = await client.post("/api/tenants/acme/promote", headers=AUTH,
                          data=orjson.dumps({"model": "hoeffding", "command_id": "op-1"}))
    assert r.status == 202
    assert (await r.json())["command_id"] == "op-1"
    [sent] = h.wire.of("control")
    assert sent.key == b"acme"
    cmd = h.wire.records("control", ControlCommand)[0]
    assert (cmd.tenant, cmd.command, cmd.args, cmd.command_id) == (
        "acme", "promote", {"model": "hoeffding"}, "op-1")


async def test_reads_are_open(api):
    h, client = api
    await h.put("enrich_event", event_bytes("r1"))
    r = await client.get("/api/tenants")
    assert r.status == 200
    body = await r.json()
    assert body["total"] == 1 and body["tenants"][0]["tenant"] == TENANT
    assert body["tenants"][0]["requests"] == 1
    models = (await (await client.get("/api/tenants/acme/models")).json())["models"]
    assert [(m["name"], m["role"], m["version"]) for m in models] == [
        ("logreg", "champion", 1), ("hoeffding", "challenger", 1), ("baseline", "canary", 1)]
    for path, key in [("/api/tenants/acme/versions", "versions"),
                      ("/api/tenants/acme/decisions", "decisions"),
                      ("/api/tenants/acme/drift", "drift"),
                      ("/api/tenants/acme/events", "events"),
                      ("/api/drift", "drift"), ("/api/decisions", "decisions"),
                      ("/api/events", "events")]:
        r = await client.get(path)
        assert r.status == 200, path
        assert isinstance((await r.json())[key], list), path
    detail = await (await client.get("/api/tenants/acme")).json()
    assert detail["deployment"]["models"][0]["name"] == "logreg"
    assert (await client.get("/api/tenants/nobody")).status == 404
    metrics = await (await client.get("/api/metrics")).json()
    assert metrics["counts"]["requests"] == 1 and metrics["pending"] == 1
    overview = await (await client.get("/api/overview")).json()
    assert [t["tenant"] for t in overview["tenants"]] == [TENANT]
    assert (await client.get("/api/auth")).status == 401
    assert (await client.get("/api/auth", headers=AUTH)).status == 200
    page = await client.get("/ops/")
    assert page.status == 200 and "Rendezvous model ops" in await page.text()


async def test_tenant_labels_are_bounded_by_top_n(make_harness):
    h = await make_harness(metrics_tenant_labels=2)
    try:
        for i, tenant in enumerate(["a", "b", "c", "d"]):
            for k in range(i + 1):  # d busiest, then c
                await h.put("enrich_event", event_bytes(f"{tenant}{k}", tenant=tenant),
                            key=tenant.encode())
        reg = h.rt.metrics.registry
        got = {t: reg.get_sample_value("rendezvous_tenant_requests_total", {"tenant": t})
               for t in ("a", "b", "c", "d", "_other")}
        assert got == {"a": None, "b": None, "c": 3.0, "d": 4.0, "_other": 3.0}
    finally:
        await h.aclose()


async def test_the_ops_page_is_the_static_file_it_ships_with(api):
    from importlib.resources import files

    _, client = api
    r = await client.get("/ops/")
    assert r.status == 200 and r.content_type == "text/html"
    page = files("app").joinpath("static", "ops.html").read_text(encoding="utf-8")
    assert await r.text() == page
    assert "<title>Rendezvous model ops</title>" in page and "/api/overview" in page
