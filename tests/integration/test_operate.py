"""Operating a real serving worker and model pool on the real broker: the control API (auth,
400 reasons, commands applied through the control topic), the automatic rollback of a
failing new champion, the read endpoints, and Prometheus values that move as events flow."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.error
import urllib.request

import orjson
import pytest

from kafka_io import produce, read_topic

from .conftest import running_workers
from .scenarios import deployment, event, model, points

TOKEN = "operate-test-token-0123456789"
TENANT = "ops-a"
DEPLOYMENTS = {TENANT: deployment([model("logreg", "logreg", "champion"),
                                   model("tree", "hoeffding", "challenger", grace_period=20),
                                   model("baseline", "baseline", "canary")])}


def call(worker, method: str, path: str, body=None, token: str | None = None):
    """(status, JSON body) of one HTTP request to the worker's web server."""
    data = None if body is None else (body if isinstance(body, bytes) else orjson.dumps(body))
    req = urllib.request.Request(f"http://127.0.0.1:{worker.web_port}{path}", data=data,
                                 method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read())


def sample(text: str, name: str, **labels) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name:
            got = ",".join(sorted((m.group(2) or "").split(","))) if m.group(2) else ""
            if got == want:
                return float(m.group(3))
    return 0.0


@pytest.fixture(scope="module")
def ops(kafka, log_dir, tmp_path_factory):
    with running_workers(kafka, log_dir, ("serving", "fast"), DEPLOYMENTS,
                         tmp_path_factory.mktemp("ops"), api_token=TOKEN, rollback_min_scores=10,
                         metrics_tenant_labels=5) as running:
        yield running


def send_and_wait(kafka, env, records):
    asyncio.run(produce(kafka, f"{env}.events", records))
    wanted = {orjson.loads(v)["request_id"] for _, v in records}
    asyncio.run(read_topic(kafka, f"{env}.results",
                           lambda rs: wanted <= {r["request_id"] for r in rs}, timeout=90))


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_operate_end_to_end(kafka, ops):
    env, workers = ops
    serving, pool = workers["serving"], workers["fast"]
    xs = points(7, 40)
    send_and_wait(kafka, env, [event(TENANT, f"a-{i}", f"e{i % 5}", time.time(), p,
                                     label=p["x"] > 0) for i, p in enumerate(xs)])

    # Metrics moved by exactly the events sent.
    text = serving.metrics_text()
    assert sample(text, "rendezvous_requests_total") == 40
    reasons = ("champion", "fallback-deadline", "fallback-error", "ab-variant", "default")
    assert sum(sample(text, "rendezvous_results_total", reason=r) for r in reasons) == 40
    assert sample(text, "rendezvous_tenant_requests_total", tenant=TENANT) == 40
    assert sample(text, "rendezvous_result_latency_seconds_count") == 40
    assert sample(text, "rendezvous_scores_received_total", role="champion", outcome="ok") == 40
    assert sample(text, "rendezvous_served_labelled_total", tenant=TENANT, model="logreg") == \
        sample(text, "rendezvous_tenant_results_total", tenant=TENANT, reason="champion")
    assert wait_for(lambda: pool.stats()["models"].get(TENANT, {}).get("logreg", {}).get("n") == 40)
    ptext = pool.metrics_text()
    assert sample(ptext, "rendezvous_scores_total", role="champion", outcome="ok") == 40
    assert sample(ptext, "rendezvous_scoring_latency_seconds_count", role="champion") == 40
    assert sample(ptext, "rendezvous_learned_total") == 120
    accuracy = sample(ptext, "rendezvous_model_online_metric", tenant=TENANT, model="logreg",
                      role="champion", metric="accuracy")
    assert accuracy == pool.stats()["models"][TENANT]["logreg"]["accuracy"]

    # Auth: every mutation needs the exact token.
    for token in (None, "wrong-token-0123456789", TOKEN + "x"):
        status, body = call(serving, "POST", f"/api/tenants/{TENANT}/promote", {"model": "tree"},
                            token)
        assert (status, body) == (401, {"error": "missing or wrong bearer token"})
    # Invalid commands: 400 with the reason, nothing changes.
    for method, path, body, reason in [
            ("POST", "promote", {"model": "nope"}, "promote: no model 'nope'"),
            ("POST", "retire", {"model": "logreg"}, "cannot retire the champion 'logreg'"),
            ("PUT", "policy", {"deadline_ms": -5}, "policy.deadline_ms must be a number > 0"),
            ("POST", "deploy", {"model": {"name": "m", "spec": "nosuch", "role": "shadow"}},
             "unknown spec 'nosuch'"),
            ("POST", "commands", {"command": "explode"}, "command must be one of")]:
        status, got = call(serving, method, f"/api/tenants/{TENANT}/{path}", body, TOKEN)
        assert status == 400 and reason in got["error"], (path, got)
    assert call(serving, "GET", f"/api/tenants/{TENANT}")[1]["version"] == 1

    # A promotion through the API is applied through the control topic.
    status, got = call(serving, "POST", f"/api/tenants/{TENANT}/promote", {"model": "tree"}, TOKEN)
    assert status == 200 and got["status"] == "applied"
    assert got["deployment"]["version"] == 2
    models = call(serving, "GET", f"/api/tenants/{TENANT}/models")[1]["models"]
    assert [(m["name"], m["role"], m["version"]) for m in models] == [
        ("logreg", "challenger", 1), ("tree", "champion", 1), ("baseline", "canary", 1)]
    status, got = call(serving, "PUT", f"/api/tenants/{TENANT}/policy", {"deadline_ms": 20000.0},
                       TOKEN)
    assert status == 200 and got["deployment"]["policy"]["deadline_ms"] == 20000.0
    control = asyncio.run(read_topic(kafka, f"{env}.control", lambda rs: len(rs) >= 2))
    assert [c["command"] for c in control] == ["promote", "set-policy"]

    # A new champion that fails every score is rolled back automatically.
    status, got = call(serving, "POST", f"/api/tenants/{TENANT}/deploy",
                       {"model": {"name": "broken", "spec": "failing", "role": "champion"}}, TOKEN)
    assert status == 200 and got["deployment"]["version"] == 4
    xs = points(8, 15)
    send_and_wait(kafka, env, [event(TENANT, f"b-{i}", f"e{i % 5}", time.time(), p,
                                     label=p["x"] > 0) for i, p in enumerate(xs)])
    detail = wait_for(lambda: (d := call(serving, "GET", f"/api/tenants/{TENANT}")[1])
                      ["version"] == 5 and d)
    assert detail and detail["champion"] == "tree"
    rolled = [e for e in detail["events"] if e["kind"] == "rolled-back"]
    assert len(rolled) == 1 and rolled[0]["automatic"] is True
    assert "model 'broken' v1: 10 of its first 10 scores failed (100%), against 0% for 'tree'" \
        in rolled[0]["reason"]
    versions = call(serving, "GET", f"/api/tenants/{TENANT}/versions")[1]["versions"]
    assert [(v["version"], v["command"]) for v in versions] == [
        (1, "initial"), (2, "promote"), (3, "set-policy"), (4, "deploy"), (5, "rollback")]
    text = serving.metrics_text()
    assert sample(text, "rendezvous_rollbacks_total", trigger="automatic") == 1
    assert sample(text, "rendezvous_control_commands_total", command="deploy",
                  outcome="applied") == 1
    assert sample(text, "rendezvous_requests_total") == 55
    assert sample(text, "rendezvous_scores_received_total", role="champion",
                  outcome="error") >= 10

    # Reads.
    tenants = call(serving, "GET", "/api/tenants")[1]
    assert [t["tenant"] for t in tenants["tenants"]] == [TENANT]
    assert tenants["tenants"][0]["requests"] == 55
    decisions = call(serving, "GET", f"/api/tenants/{TENANT}/decisions")[1]["decisions"]
    assert len(decisions) == 10 and decisions[0]["request_id"].startswith("b-")
    assert call(serving, "GET", "/api/decisions?limit=3")[1]["decisions"][0]["tenant"] == TENANT
    assert call(serving, "GET", f"/api/tenants/{TENANT}/drift")[1] == {"tenant": TENANT,
                                                                       "drift": []}
    assert call(serving, "GET", "/api/drift")[1] == {"drift": []}
    assert call(serving, "GET", "/api/metrics")[1]["counts"]["requests"] == 55
    assert call(serving, "GET", "/api/tenants/nobody")[0] == 404
    assert call(serving, "GET", "/api/auth", token=TOKEN)[0] == 200
