"""control under test_context: commands applied in order, rejections dead-lettered with
their reason, and the automatic rollback of a promotion whose new champion fails."""

from __future__ import annotations

import orjson
import pytest

from schemas import ControlCommand

from .conftest import KEY, TENANT, deployment_dict, score_bytes


def command(cmd: str, args: dict, command_id: str = "c1", tenant: str = TENANT) -> bytes:
    return orjson.dumps({"tenant": tenant, "command": cmd, "args": args,
                         "command_id": command_id, "issued_at": 1.0})


def deployed(h) -> dict:
    return h.rt.tables.deployments[TENANT]


def counter(h, name: str, **labels) -> float:
    return h.rt.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_commands_apply_in_order_and_bump_the_version(serving):
    await serving.put("apply_control", command("deploy", {"deployment": deployment_dict()}, "c1"))
    await serving.put("apply_control", command("promote", {"model": "hoeffding"}, "c2"))
    await serving.put("apply_control", command("set-policy", {"deadline_ms": 75.0}, "c3"))
    await serving.put("apply_control", command("retire", {"model": "baseline"}, "c4"))
    d = deployed(serving)
    assert d["version"] == 5  # the default (1), then one bump per command
    assert [(m["name"], m["role"], m["version"]) for m in d["models"]] == [
        ("logreg", "challenger", 1), ("hoeffding", "champion", 1)]
    assert d["policy"]["deadline_ms"] == 75.0
    assert d["policy"]["fallback"] == ["hoeffding", "logreg"]
    assert serving.wire.of("dead-letter") == []
    events = [(e["kind"], e["command"], e["version"]) for e in serving.rt.stats.events[TENANT]]
    assert events == [("applied", "deploy", 2), ("applied", "promote", 3),
                      ("applied", "set-policy", 4), ("applied", "retire", 5)]
    assert [v["version"] for v in serving.rt.control.versions(TENANT)] == [1, 2, 3, 4, 5]
    assert counter(serving, "rendezvous_control_commands_total", command="promote",
                   outcome="applied") == 1


@pytest.mark.parametrize("cmd, args, reason", [
    ("retire", {"model": "logreg"}, "cannot retire the champion 'logreg'"),
    ("promote", {"model": "nope"}, "promote: no model 'nope'"),
    ("promote", {"model": "logreg"}, "promote: 'logreg' is already the champion"),
    ("set-policy", {"deadline_ms": 0}, "policy.deadline_ms must be a number > 0"),
    ("set-policy", {"colour": "red"}, "set-policy: unknown argument 'colour'"),
    ("deploy", {"model": {"name": "x", "spec": "nosuch", "role": "challenger"}},
     "model 'x': unknown spec 'nosuch'"),
    ("rollback", {"deployment_version": 5}, "rollback: deployment_version 5 is not before"),
    ("rollback", {"deployment_version": 0}, "deployment version 0 is not in this worker's history"),
])
async def test_an_invalid_command_is_dead_lettered_with_its_reason_and_changes_nothing(
        serving, cmd, args, reason):
    await serving.put("apply_control", command("deploy", {"deployment": deployment_dict()}, "c1"))
    before = deployed(serving)
    await serving.put("apply_control", command(cmd, args, "bad"))
    assert deployed(serving) == before
    [dead] = serving.wire.dead_letters()
    assert reason in dead.error
    rejected = serving.rt.stats.events[TENANT][-1]
    assert rejected["kind"] == "rejected" and reason in rejected["reason"]
    assert counter(serving, "rendezvous_control_commands_total", command=cmd,
                   outcome="rejected") == 1


async def test_a_model_rollback_restores_a_checkpoint_in_a_new_deployment_version(serving):
    await serving.put("apply_control", command("rollback", {"model": "logreg", "version": 1}))
    assert serving.wire.dead_letters() == []
    # the pools restore checkpoint 1 of logreg at the first record of version 2
    logreg = deployed(serving)["models"][0]
    assert deployed(serving)["version"] == 2
    assert (logreg["name"], logreg["restore_version"], logreg["restore_token"]) == ("logreg", 1, 2)
    assert serving.rt.stats.events[TENANT][-1]["kind"] == "rolled-back"
    assert counter(serving, "rendezvous_rollbacks_total", trigger="manual") == 1


async def test_a_failing_new_champion_is_rolled_back_automatically(make_harness):
    h = await make_harness(rollback_min_scores=5, rollback_error_margin=0.5)
    try:
        d = deployment_dict()
        d["models"].append({"name": "broken", "spec": "failing", "params": {},
                            "role": "challenger", "pool": "fast", "version": 1})
        await h.put("apply_control", command("deploy", {"deployment": d}, "c1"))
        await h.put("apply_control", command("promote", {"model": "broken"}, "c2"))
        assert deployed(h)["version"] == 3
        # The replaced champion answers fine; the new one raises on every request.
        for i in range(5):
            await h.put("collect_score", score_bytes(f"r{i}", "logreg", role="challenger"))
            await h.put("collect_score", score_bytes(f"r{i}", "broken", role="champion",
                                                     output=None, error="RuntimeError: drill"))
        [rollback] = h.wire.records("control", ControlCommand)
        assert rollback.command == "rollback"
        assert rollback.args["deployment_version"] == 2 and rollback.args["if_version"] == 3
        assert "5 of its first 5 scores failed (100%), against 0% for 'logreg'" in \
            rollback.args["reason"]
        await h.put("apply_control", h.wire.of("control")[0].value)
        d = deployed(h)
        assert d["version"] == 4
        assert {m["name"]: m["role"] for m in d["models"]}["logreg"] == "champion"
        kinds = [e["kind"] for e in h.rt.stats.events[TENANT]]
        assert kinds[-2:] == ["probation-failed", "rolled-back"]
        assert h.rt.stats.events[TENANT][-1]["automatic"] is True
        assert counter(h, "rendezvous_rollbacks_total", trigger="automatic") == 1
        # Sent again (at-least-once), the rollback is superseded, not applied twice.
        await h.put("apply_control", h.wire.of("control")[0].value)
        assert deployed(h)["version"] == 4
        assert "superseded" in h.wire.dead_letters()[-1].error
    finally:
        await h.aclose()


async def test_a_healthy_promotion_passes_probation(make_harness):
    h = await make_harness(rollback_min_scores=3)
    try:
        await h.put("apply_control", command("deploy", {"deployment": deployment_dict()}, "c1"))
        await h.put("apply_control", command("promote", {"model": "hoeffding"}, "c2"))
        for i in range(3):
            await h.put("collect_score", score_bytes(f"r{i}", "hoeffding", role="champion"))
        assert h.wire.of("control") == []
        assert h.rt.stats.events[TENANT][-1]["kind"] == "probation-passed"
        assert h.rt.stats.scored[TENANT][("hoeffding", 1)] == [3, 0]
    finally:
        await h.aclose()


async def test_drift_events_are_recorded_and_counted(serving):
    drift = orjson.dumps({"tenant": TENANT, "model": "logreg", "signal": "feature:amount",
                          "training_offset": 10, "n_before": 5, "n_after": 5,
                          "mean_before": 0.1, "mean_after": 0.9, "detected_at": 2.0})
    await serving.put("record_drift", drift, key=KEY)
    await serving.put("record_drift", drift, key=b"other")
    assert [d["signal"] for d in serving.rt.stats.drift[TENANT]] == ["feature:amount"]
    assert counter(serving, "rendezvous_drift_events_total", signal="feature") == 1
    assert len(serving.wire.dead_letters()) == 1  # the wrongly keyed one
