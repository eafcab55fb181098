"""Drift responses: each one deterministic, idempotent, and acting only on the champion's error."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest

from learning.deployment import default_deployment
from learning.control import apply_command
from learning.drift import detection
from learning.drift_response import (Evaluation, Ledger, ResponsePolicy, apply_response,
                                     conclude, handle, respond)

DRIFT = detection("acme", "logreg", "error", 5000, 900, 100, 0.1, 0.4)


def with_fresh():
    d = default_deployment()
    return apply_command(d, "deploy", {"model": {"name": "fresh", "spec": "logreg",
                                                 "role": "challenger"}})


@pytest.mark.parametrize("action", ["alert", "reset", "rollback", "promote"])
def test_each_response_is_deterministic(action):
    d = default_deployment()
    a = respond(d, DRIFT, ResponsePolicy(action))
    b = respond(d, DRIFT, ResponsePolicy(action))
    assert a == b
    assert a[1].key == "acme|logreg|error|5000|detected"


def test_alert_changes_nothing():
    d = default_deployment()
    new, r = respond(d, DRIFT, ResponsePolicy("alert"))
    assert new is d and r.action == "alert" and not r.changed


def test_reset_rebuilds_the_champion_under_a_new_version_and_applies_once():
    d = default_deployment()
    new, r = respond(d, DRIFT, ResponsePolicy("reset"))
    assert (r.action, r.deployment_version_before, r.deployment_version_after) == ("reset", 1, 2)
    assert new.champion == dataclasses.replace(d.champion, version=2)
    assert [m.name for m in new.models] == [m.name for m in d.models]
    once = apply_response(d, r, new)
    assert once is new
    assert apply_response(once, r, new) is once  # applied twice: nothing more changes
    # A response decided against an older deployment never applies to a newer one.
    later = apply_command(d, "set-policy", {"deadline_ms": 10.0})
    assert apply_response(later, r, new) is later


def test_rollback_is_a_decision_record_for_the_checkpoint_store():
    d = default_deployment()
    new, r = respond(d, DRIFT, ResponsePolicy("rollback"))
    assert new is d and r.action == "rollback"
    assert r.changes == {"rollback": {"model": "logreg", "version": 1,
                                      "before_training_offset": 5000,
                                      "post_change_examples": 100}}


@pytest.mark.parametrize("detection", [
    detection("acme", "baseline", "feature:amount", 5000, 900, 100, 0.5, 0.9),
    detection("acme", "baseline", "divergence", 5000, 900, 100, 0.1, 0.4),
    detection("acme", "hoeffding", "error", 5000, 900, 100, 0.1, 0.4),
    detection("acme", "logreg", "error", 5000, 900, 100, 0.4, 0.1),  # got better
])
def test_only_the_champion_error_going_up_acts(detection):
    d = default_deployment()
    new, r = respond(d, detection, ResponsePolicy("reset"))
    assert new is d and r.action == "alert"


def test_promote_opens_an_evaluation_and_restarts_fresh_challengers():
    d = with_fresh()
    policy = ResponsePolicy("promote", window=3, margin=0.1, restart=("fresh",))
    new, r = respond(d, DRIFT, policy)
    assert r.action == "evaluate" and r.changes["restarted"] == ["fresh"]
    assert new.model("fresh").version == d.model("fresh").version + 1
    assert r.changes["evaluate"] == {"champion": "logreg", "challengers": ["hoeffding", "fresh"],
                                     "window": 3}

    e = Evaluation(r.key, "classification", "logreg", ("hoeffding", "fresh"), window=3)
    for label, champ, tree, fresh in [(1, 0, 0, 1), (0, 0, 1, 0), (1, 0, 1, 1)]:
        e.record({"logreg": champ, "hoeffding": tree, "fresh": fresh}, label)
    assert e.done
    promoted, c = conclude(new, r, e, policy)
    assert (c.action, c.stage, c.changes) == ("promote", "evaluated",
                                              {"promoted": "fresh", "demoted": "logreg"})
    assert promoted.champion.name == "fresh" and promoted.model("logreg").role == "challenger"
    assert c.key == "acme|logreg|error|5000|evaluated"
    # The same conclusion against the promoted deployment applies nothing.
    assert apply_response(promoted, c, promoted) is promoted


def test_promote_keeps_the_champion_without_a_margin():
    d = default_deployment()
    policy = ResponsePolicy("promote", window=2, margin=0.6)
    new, r = respond(d, DRIFT, policy)
    e = Evaluation(r.key, "classification", "logreg", ("hoeffding",), window=2)
    e.record({"logreg": 0, "hoeffding": 1}, 1)
    e.record({"logreg": 1, "hoeffding": 1}, 1)
    kept, c = conclude(new, r, e, policy)
    assert kept is new and c.action == "keep" and "by 0.6" in c.reason


def test_evaluation_joins_outputs_and_labels_in_any_order():
    e = Evaluation("k", "classification", "a", ("b",), window=2)
    e.on_output("r1", "a", True)
    e.on_label("r1", True)
    e.on_label("r2", False)  # the label of r2 first (an inline label's training record)
    assert e.n == 0
    e.on_output("r1", "b", False)
    e.on_output("r2", "b", False)
    e.on_output("r2", "a", False)
    e.on_output("r3", "a", True)  # after the window: ignored
    assert e.done and e.scores() == {"a": 1.0, "b": 0.5}


def test_regression_evaluation_uses_mae():
    e = Evaluation("k", "regression", "a", ("b",), window=2)
    e.record({"a": 1.0, "b": 2.0}, 2.0)
    e.record({"a": 1.0, "b": 2.5}, 2.0)
    assert e.scores() == {"a": 1.0, "b": 0.25}


def test_handle_is_idempotent_under_replay_and_cools_down():
    d, ledger = default_deployment(), Ledger({})
    policy = ResponsePolicy("reset", cooldown=1000)
    new, r = handle(d, DRIFT, policy, ledger)
    assert r.action == "reset"
    assert handle(new, DRIFT, policy, ledger) is None  # the same detection, replayed
    soon = msgspec.structs.replace(DRIFT, training_offset=5500)
    same, r2 = handle(new, soon, policy, ledger)
    assert same is new and r2.action == "alert" and r2.reason.startswith("cooldown")
    later = msgspec.structs.replace(DRIFT, training_offset=7000)
    newer, r3 = handle(new, later, policy, ledger)
    assert r3.action == "reset" and newer.champion.version == 3


def test_ledger_is_bounded_per_tenant():
    store = {}
    ledger = Ledger(store)
    for t in range(Ledger.MAX_KEYS + 10):
        ledger.note(msgspec.structs.replace(DRIFT, training_offset=t), acted=False)
    assert len(store["acme"]["keys"]) == Ledger.MAX_KEYS


def test_a_restart_of_a_champion_is_skipped():
    d = default_deployment()
    d = apply_command(d, "deploy", {"model": {"name": "x", "spec": "logreg",
                                              "role": "challenger"}})
    new, r = respond(d, DRIFT, ResponsePolicy("reset", restart=("logreg", "x", "gone")))
    assert r.changes["restarted"] == ["x"]
    assert new.champion.version == 2 and new.model("x").version == 2


def test_policy_validation():
    with pytest.raises(ValueError, match="unknown field"):
        ResponsePolicy.from_dict({"action": "reset", "colour": 1})
    with pytest.raises(ValueError, match="window"):
        ResponsePolicy("promote", window=0)
    assert ResponsePolicy.from_dict(ResponsePolicy("reset", restart=("a",)).to_dict()) == \
        ResponsePolicy("reset", restart=("a",))


def test_promote_with_reset_champion_resets_then_evaluates_the_reset_champion():
    d = with_fresh()
    policy = ResponsePolicy("promote", window=2, reset_champion=True, restart=("fresh",))
    new, r = respond(d, DRIFT, policy)
    assert (r.action, r.deployment_version_before, r.deployment_version_after) == \
        ("evaluate", d.version, d.version + 2)
    assert r.changes == {"evaluate": {"champion": "logreg", "challengers": ["hoeffding", "fresh"],
                                      "window": 2},
                         "reset": {"logreg": [1, 2]}, "restarted": ["fresh"]}
    assert r.reason.startswith("champion reset, evaluating challengers over the next 2 ")
    assert new.champion == dataclasses.replace(d.champion, version=2)
    assert apply_response(d, r, new) is new

    # The evaluation compares the challengers with the reset champion, as for plain promote.
    e = Evaluation(r.key, "classification", "logreg", ("hoeffding", "fresh"), window=2)
    e.record({"logreg": 1, "hoeffding": 0, "fresh": 1}, 1)
    e.record({"logreg": 1, "hoeffding": 1, "fresh": 1}, 1)
    kept, c = conclude(new, r, e, policy)
    assert kept is new and c.action == "keep" and kept.champion.version == 2


def test_promote_with_reset_champion_and_no_challenger_still_resets():
    d = apply_command(default_deployment(), "retire", {"model": "hoeffding"})
    new, r = respond(d, DRIFT, ResponsePolicy("promote", reset_champion=True))
    assert r.action == "reset" and r.changes == {"reset": {"logreg": [1, 2]}}
    assert r.reason.startswith("champion reset, no challenger to evaluate: ")
    assert new.champion.version == 2


@pytest.mark.parametrize("action, reset_champion, acts", [
    ("promote", True, "evaluate"),
    ("promote", False, "evaluate"),
    ("reset", False, "reset"),
])
def test_reset_champion_within_the_cooldown_only_alerts(action, reset_champion, acts):
    d, ledger = default_deployment(), Ledger({})
    policy = ResponsePolicy(action, reset_champion=reset_champion, cooldown=1000)
    new, r = handle(d, DRIFT, policy, ledger)
    assert r.action == acts
    assert new.champion.version == (2 if action == "reset" or reset_champion else 1)
    soon = msgspec.structs.replace(DRIFT, training_offset=5500)
    same, r2 = handle(new, soon, policy, ledger)
    assert same is new and r2.action == "alert"


@pytest.mark.parametrize("fields, message", [
    ({"action": "reset", "reset_champion": True},
     "reset_champion applies to action 'promote' only, not 'reset'"),
    ({"action": "alert", "reset_champion": True},
     "reset_champion applies to action 'promote' only, not 'alert'"),
    ({"action": "promote", "reset_champion": "yes"},
     "reset_champion must be true or false, got 'yes'"),
    ({"action": "promote", "reset_champion": 1},
     "reset_champion must be true or false, got 1"),
])
def test_reset_champion_validation(fields, message):
    with pytest.raises(ValueError, match=message):
        ResponsePolicy.from_dict(fields)


def test_reset_champion_round_trips():
    policy = ResponsePolicy("promote", window=100, reset_champion=True)
    assert policy.to_dict()["reset_champion"] is True
    assert ResponsePolicy.from_dict(policy.to_dict()) == policy
    assert ResponsePolicy.from_dict({"action": "promote"}).reset_champion is False


@pytest.mark.parametrize("window_start, retrain_from", [(4901, 4901), (None, None)])
@pytest.mark.parametrize("policy", [ResponsePolicy("reset"),
                                    ResponsePolicy("promote", reset_champion=True,
                                                   restart=("fresh",))])
def test_rebuilt_models_retrain_from_the_post_drift_window(policy, window_start, retrain_from):
    drift = msgspec.structs.replace(DRIFT, window_start=window_start)
    new, _ = respond(with_fresh(), drift, policy)
    rebuilt = {m.name: m.retrain_from for m in new.models
               if m.version == 2}
    expected = {"logreg": retrain_from}
    if policy.restart:
        expected["fresh"] = retrain_from
    assert rebuilt == expected
    assert new.model("baseline").retrain_from is None
    again, _ = respond(new, msgspec.structs.replace(drift, training_offset=9000,
                                                window_start=None), ResponsePolicy("reset"))
    assert again.champion.version == 3 and again.champion.retrain_from is None
