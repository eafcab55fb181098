"""learning.control: command semantics on a Deployment, and the probation verdicts."""

from __future__ import annotations

import pytest

from learning import control
from learning.control import (BadArguments, NotAllowed, Probation, RollbackUnavailable,
                              Superseded, UnknownModel, apply_command, revert, watched_models)
from learning.deployment import Deployment, default_deployment, with_rollback


@pytest.fixture
def d() -> Deployment:
    return default_deployment()


def roles(dep: Deployment) -> dict:
    return {m.name: (m.role, m.version) for m in dep.models}


def test_deploy_a_new_champion_demotes_the_old_one_and_leads_the_fallback(d):
    new = apply_command(d, "deploy", {"model": {"name": "forest", "spec": "arf",
                                                "params": {"n_models": 3}, "role": "champion"}})
    assert new.version == 2
    assert roles(new) == {"logreg": ("challenger", 1), "hoeffding": ("challenger", 1),
                          "baseline": ("canary", 1), "forest": ("champion", 1)}
    assert new.policy.fallback == ("forest", "logreg", "hoeffding", "baseline")
    assert new.model("forest").pool == "fast"


def test_redeploying_a_model_with_new_params_rebuilds_it_under_a_new_version(d):
    new = apply_command(d, "deploy", {"model": {"name": "hoeffding", "spec": "hoeffding",
                                                "params": {"grace_period": 10},
                                                "role": "challenger", "pool": "heavy"}})
    assert roles(new)["hoeffding"] == ("challenger", 2)
    assert watched_models(d, new) == {("hoeffding", 2): "hoeffding"}


def test_a_whole_deployment_keeps_unchanged_models_and_versions_only_grow(d):
    proposed = d.to_dict()
    proposed["models"][2]["params"] = {}
    proposed["policy"]["deadline_ms"] = 80.0
    new = apply_command(d, "deploy", {"deployment": proposed})
    assert new.version == 2 and new.policy.deadline_ms == 80.0
    assert [m.version for m in new.models] == [1, 1, 1]
    other = default_deployment("regression").to_dict()
    with pytest.raises(BadArguments, match="task 'regression' differs"):
        apply_command(d, "deploy", {"deployment": other})


def test_promote_to_challenger_and_champion(d):
    shadowed = apply_command(d, "deploy", {"model": {"name": "s", "spec": "baseline",
                                                     "role": "shadow"}})
    assert "s" not in shadowed.policy.fallback
    up = apply_command(shadowed, "promote", {"model": "s", "role": "challenger"})
    assert up.model("s").role == "challenger" and up.policy.fallback[-1] == "s"
    with pytest.raises(BadArguments, match="role must be champion or challenger"):
        apply_command(d, "promote", {"model": "hoeffding", "role": "canary"})
    with pytest.raises(UnknownModel, match="deployed: logreg, hoeffding, baseline"):
        apply_command(d, "promote", {"model": "zz"})


def test_promoting_the_ab_variant_ends_the_ab_test(d):
    ab = apply_command(d, "set-policy", {"ab_model": "hoeffding", "ab_split": 0.3})
    new = apply_command(ab, "promote", {"model": "hoeffding"})
    assert (new.policy.ab_model, new.policy.ab_split) == (None, 0.0)


def test_retire(d):
    ab = apply_command(d, "set-policy", {"ab_model": "hoeffding", "ab_split": 0.5})
    new = apply_command(ab, "retire", {"model": "hoeffding"})
    assert [m.name for m in new.models] == ["logreg", "baseline"]
    assert new.policy.fallback == ("logreg", "baseline") and new.policy.ab_model is None
    assert new.version == 3


@pytest.mark.parametrize("command, args, error, reason", [
    ("launch", {}, BadArguments, "unknown command 'launch'"),
    ("retire", {"model": "logreg", "x": 1}, BadArguments, "unknown argument 'x'"),
    ("retire", {"model": 3}, BadArguments, "'model' must be a model name"),
    ("set-policy", {}, BadArguments, "give at least one of"),
    ("set-policy", {"deadline_ms": 50.0}, NotAllowed, "changes nothing"),
    ("set-policy", {"fallback": ["logreg", "logreg"]}, BadArguments, "listed twice"),
    ("deploy", {"model": {"name": "m", "spec": "logreg"}}, BadArguments, "missing field 'role'"),
    ("deploy", {"model": {"name": "m", "spec": "logreg", "role": "champion", "colour": 1}},
     BadArguments, "unknown field 'colour'"),
    ("deploy", {"model": {"name": "m", "spec": "logreg", "params": {"bogus": 1},
                          "role": "shadow"}}, BadArguments, "bad params for spec 'logreg'"),
    ("deploy", {"model": {"name": "logreg", "spec": "logreg", "role": "challenger"}},
     BadArguments, "expected exactly one champion, found 0"),
    ("rollback", {"deployment_version": 1, "if_version": 7}, Superseded, "superseded"),
    ("rollback", {"deployment_version": "1"}, BadArguments, "must be an int"),
    ("rollback", {"model": "logreg", "version": 0}, BadArguments, "version must be an int >= 1"),
])
def test_invalid_commands_raise_a_typed_error_with_the_reason(d, command, args, error, reason):
    with pytest.raises(error, match=reason):
        apply_command(apply_command(d, "set-policy", {"deadline_ms": 50.0 + 1}) if command ==
                      "rollback" else d, command, args)


def test_a_tenant_without_deployment_can_only_be_deployed(d):
    with pytest.raises(NotAllowed, match="deploy one first"):
        apply_command(None, "promote", {"model": "x"})
    assert apply_command(None, "deploy", {"deployment": d.to_dict()}).version == 1


def test_rollback_to_an_earlier_deployment_restores_it_as_a_new_version(d):
    v2 = apply_command(d, "promote", {"model": "hoeffding"})
    v3 = apply_command(v2, "deploy", {"model": {"name": "hoeffding", "spec": "hoeffding",
                                                "params": {"grace_period": 5},
                                                "role": "champion", "pool": "heavy"}})
    history = {1: d, 2: v2, 3: v3}
    back = apply_command(v3, "rollback", {"deployment_version": 1, "if_version": 3}, history)
    assert back.version == 4 and back.champion.name == "logreg"
    assert roles(back)["hoeffding"] == ("challenger", 3)  # params changed back: rebuilt
    assert back == revert(v3, d)
    with pytest.raises(RollbackUnavailable, match=r"not in this worker's history \(known: 1\)"):
        apply_command(v3, "rollback", {"deployment_version": 2}, {1: d})


def test_a_model_rollback_goes_through_checkpoints(d):
    new = apply_command(d, "rollback", {"model": "logreg", "version": 1})
    assert new.version == 2
    logreg = new.model("logreg")
    assert (logreg.restore_version, logreg.restore_token, logreg.version) == (1, 2, 1)
    assert new == with_rollback(d, "logreg", 1)


def test_probation_passes_within_the_margin_and_fails_far_above_it():
    p = Probation(applied_version=3, previous_version=2, watched={("new", 1): "old"},
                  min_scores=4, margin=0.5)
    for e in (True, False, False, False):
        p.observe("old", 1, e)  # the old model: 25% errors
    verdicts = [p.observe("new", 1, e) for e in (True, True, False, False)]  # 50%
    assert verdicts[:3] == [None] * 3 and verdicts[3].passed
    p = Probation(applied_version=3, previous_version=2, watched={("new", 2): "new"},
                  min_scores=2, margin=0.5, baseline_rates={"new": 0.0})
    assert p.observe("new", 2, True) is None
    verdict = p.observe("new", 2, True)
    assert not verdict.passed and "against 0% for 'new'" in verdict.reason
    assert p.observe("new", 2, True) is None  # judged once


def test_commands_are_the_schema_commands():
    from schemas.records import COMMANDS

    assert control.COMMANDS == COMMANDS
