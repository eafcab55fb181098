"""The pure per-tenant learner: what each step returns, and the invariants recovery and
scoring rely on (checkpoint + replay is exact, copies are skipped in stream order, a label
never reaches a score, drift is fed only when every model learnt)."""

from __future__ import annotations

import pickle
import random
from types import SimpleNamespace as R

import pytest

from learning import learner as learner_module
from learning.deployment import Deployment, default_deployment, with_rollback
from learning.drift import DriftConfig
from learning.enrichment import model_input
from learning.learner import ModelScore, Retrain, Rollback, TenantLearner
from learning.tenant_models import TenantModels

TENANT = "acme"
DEFAULT = default_deployment().to_dict()


def enriched(request_id: str, deployment: dict | None = None, tenant: str = TENANT):
    i = int(request_id.lstrip("r")) if request_id.lstrip("r").isdigit() else 0
    return R(tenant=tenant, request_id=request_id, deployment=deployment or DEFAULT,
             features={"a": float(i % 3), "b": float(i % 5) - 2.0}, state={"s": 1.0},
             aggregates={}, context={})


def training(request_id: str, label=None, deployment: dict | None = None, tenant: str = TENANT):
    e = enriched(request_id, deployment, tenant)
    i = int(request_id.lstrip("r"))
    return R(tenant=tenant, request_id=request_id, enriched=e,
             label=bool(i % 2) if label is None else label)


def make(**kw) -> TenantLearner:
    kw.setdefault("every_n", 1000)
    kw.setdefault("clock", lambda: 0.0)
    kw.setdefault("wallclock", lambda: 0.0)
    return TenantLearner(TENANT, "fast", **kw)


def saved(learner, name: str) -> dict:
    """A checkpoint's state as recovery gets it back: a copy, not the live model."""
    return pickle.loads(pickle.dumps(learner.checkpoint_state(name)))


def digests(learner) -> dict:
    return {name: (p.offset, p.predictions, p.digest) for name, (_, p) in learner.progress.items()}


def untrained(e) -> dict:
    models = TenantModels(Deployment.from_dict(e.deployment), "fast")
    x = model_input(e.features, e.state, e.aggregates, e.context)
    return {slot.name: (s.output, s.proba, s.error) for slot, s in models.score_all(x)}


# --- learn: one row per record, (scores, learnt, duplicate, checkpoints due) --------------

BOTH = ("logreg", "baseline")
STEPS = [
    ("fresh", 2, [], ["r0", "r1", "r2"],
     [(2, BOTH, False, ()), (2, BOTH, False, BOTH), (2, BOTH, False, BOTH)]),
    ("copy-skipped", 1000, [], ["r0", "r1", "r0", "r2"],
     [(2, BOTH, False, ()), (2, BOTH, False, ()), (0, (), True, ()), (2, BOTH, False, ())]),
    ("scored-first", 1000, ["r0"], ["r0", "r1"],
     [(0, BOTH, False, ()), (2, BOTH, False, ())]),
    ("every-n-1", 1, [], ["r0"], [(2, BOTH, False, BOTH)]),
]


@pytest.mark.parametrize("every_n, scored_first, records, expected",
                         [s[1:] for s in STEPS], ids=[s[0] for s in STEPS])
def test_learn_returns_what_the_plumbing_must_do(every_n, scored_first, records, expected):
    learner = make(every_n=every_n)
    for rid in scored_first:
        assert len(learner.score(enriched(rid))) == 2
    got = []
    for offset, rid in enumerate(records):
        fx = learner.learn(training(rid), offset)
        assert not fx.fetch and fx.detections == []
        assert set(fx.stats) == set(BOTH)
        got.append((len(fx.scores), fx.learnt, fx.duplicate, fx.checkpoints))
    assert got == expected
    learnt = len([e for e in expected if e[1]])
    assert {n: p.predictions for n, (_, p) in learner.progress.items()} == dict.fromkeys(
        BOTH, learnt)


def test_scores_of_an_overtaking_record_are_taken_before_learning():
    learner = make()
    fx = learner.learn(training("r1", label=True), 0)
    expected = untrained(enriched("r1"))
    assert {s.model: (s.output, s.proba, s.error) for s in fx.scores} == expected
    assert [(s.model, s.version, s.role) for s in fx.scores] == [
        ("logreg", 1, "champion"), ("baseline", 1, "canary")]
    # Its enriched record, arriving late, is not scored again.
    assert learner.score(enriched("r1")) == []


def test_a_later_request_is_scored_by_the_trained_models():
    learner = make()
    for i in range(20):
        learner.learn(training(f"r{i}", label=True), i)
    scores = learner.score(enriched("r99"))
    assert [(s.model, s.output) for s in scores] == [("logreg", True), ("baseline", True)]
    assert all(isinstance(s, ModelScore) for s in scores)


@pytest.mark.parametrize("memory, copies_learnt", [(100_000, 0), (2, 1)])
def test_copies_are_skipped_within_the_learned_memory(monkeypatch, memory, copies_learnt):
    monkeypatch.setattr(learner_module, "LEARNED_MEMORY", memory)
    learner = make()
    for offset, rid in enumerate(["r0", "r1", "r2", "r0"]):
        fx = learner.learn(training(rid), offset)
    assert (fx.duplicate, len(fx.learnt)) == (not copies_learnt, 2 * copies_learnt)


# --- checkpoint + replay is exact ---------------------------------------------------------

ORDER = ["r0", "r1", "r2", "r1", "r3", "r4", "r5", "r6", "r7"]  # r1 re-sent at offset 3


@pytest.mark.parametrize("saved_at", [-1, 0, 2, 3, 5, 8])
def test_checkpoint_then_replay_gives_the_state_of_a_run_that_never_stopped(saved_at):
    live = make()
    states = {}
    for offset, rid in enumerate(ORDER):
        live.learn(training(rid), offset)
        if offset == saved_at:
            states = {name: saved(live, name) for name in live.progress}
    recovered = make()
    for name, state in states.items():
        recovered.add_pending(name, {"training_offset": saved_at}, state)
    skipped = []
    for offset, rid in enumerate(ORDER):
        fx = recovered.replay(training(rid), offset)
        assert fx.scores == [] and not fx.fetch
        skipped.append(fx.duplicate)
    assert recovered.install_pending() == (2 if saved_at == len(ORDER) - 1 else 0)
    assert digests(recovered) == digests(live)
    assert skipped == [False, False, False, True, False, False, False, False, False]
    # Replayed requests count as scored: their enriched records are never scored again.
    assert recovered.score(enriched("r4")) == []


def test_a_tenant_with_only_checkpoints_gets_the_newest_deployment_they_were_taken_under():
    live = make()
    d2 = {**DEFAULT, "version": 2}
    live.learn(training("r0"), 0)
    live.learn(training("r1", deployment=d2), 1)
    states = {name: saved(live, name) for name in live.progress}
    recovered = make()
    for name, state in states.items():
        recovered.add_pending(name, {"training_offset": 1}, state)
    assert recovered.install_pending() == 2
    assert recovered.models.deployment.version == 2
    assert digests(recovered) == digests(live)


# --- drift: fed only when every model learnt the record ------------------------------------

# A checkpoint can be ahead of the committed offset (the commit lags processing): after the
# replay up to it, the restored model is installed ahead and skips what the others learn.
DRIFT = [
    ("nothing-ahead", {}, 3, [BOTH, BOTH, BOTH], 6),
    ("logreg-ahead", {"logreg": 4}, 3, [("baseline",), ("baseline",), BOTH], 4),
    ("both-ahead", {"logreg": 4, "baseline": 4}, 3, [(), (), BOTH], 4),
    ("behind-commit", {"logreg": 1}, 3, [BOTH, BOTH, BOTH], 6),
]


@pytest.mark.parametrize("ahead, committed, learnt, observed", [d[1:] for d in DRIFT],
                         ids=[d[0] for d in DRIFT])
def test_drift_is_fed_only_by_records_every_model_learnt(ahead, committed, learnt, observed):
    live = make()
    states = {}
    for offset in range(6):
        live.learn(training(f"r{offset}"), offset)
        states.update({name: (offset, saved(live, name))
                       for name, at in ahead.items() if at == offset})
    recovered = make(drift=DriftConfig(warmup=0))
    for name, (offset, state) in states.items():
        recovered.add_pending(name, {"training_offset": offset}, state)
    for offset in range(committed):
        recovered.replay(training(f"r{offset}"), offset)
    recovered.install_pending()
    got = [recovered.learn(training(f"r{offset}"), offset).learnt for offset in range(3, 6)]
    assert got == learnt
    assert recovered.drift.n_observed == observed
    assert digests(recovered) == digests(live)


def test_drift_detections_come_back_in_the_effects():
    rng = random.Random(5)
    learner = make(drift=DriftConfig(warmup=50))
    found = []
    for offset in range(1500):
        label = rng.random() < (0.1 if offset < 700 else 0.9)
        found += learner.learn(training(f"r{offset}", label=label), offset).detections
    assert [(d.model, d.signal) for d in found][:1] == [("logreg", "error")]
    assert all(d.tenant == TENANT and d.training_offset >= 700 for d in found)


# --- a drift retrain and a rollback: asked for, fed back, then the step goes on ------------

def retrain_deployment(start: int) -> dict:
    d = {**DEFAULT, "version": 2, "models": [dict(m) for m in DEFAULT["models"]]}
    for m in d["models"]:
        if m["name"] == "logreg":
            m.update(version=2, retrain_from=start)
    return d


def test_a_rebuilt_model_asks_for_its_window_and_retrains_on_it():
    learner = make()
    for offset in range(6):
        learner.learn(training(f"r{offset}"), offset)
    record = training("r6", deployment=retrain_deployment(3))
    fx = learner.learn(record, 6)
    assert (fx.retrains, fx.rollbacks, fx.learnt, fx.scores) == ((Retrain("logreg", 3, 6),), (),
                                                                 (), [])
    for offset in range(3, 6):
        learner.feed_retrain(fx.retrains[0], offset, training(f"r{offset}"))
    learner.feed_retrain(fx.retrains[0], 4, training("r4", tenant="globex"))  # not its tenant
    learner.end_retrain(fx.retrains[0])
    fx = learner.learn(record, 6)
    assert (fx.fetch, fx.learnt) == (False, BOTH)
    reference = make()
    for offset in (3, 4, 5, 6):
        reference.learn(training(f"r{offset}", deployment=retrain_deployment(3)), offset)
    assert learner.progress["logreg"][1].digest == reference.progress["logreg"][1].digest
    assert {n: (p.offset, p.predictions) for n, (_, p) in learner.progress.items()} == {
        "logreg": (6, 4), "baseline": (6, 7)}


@pytest.mark.parametrize("found, restored", [(False, False), (True, True)])
def test_a_rollback_is_asked_for_once_and_learning_goes_on(found, restored):
    learner = make()
    for offset in range(5):
        learner.learn(training(f"r{offset}"), offset)
    v1 = saved(learner, "logreg")
    for offset in range(5, 8):
        learner.learn(training(f"r{offset}"), offset)
    rolled = with_rollback(Deployment.from_dict(DEFAULT), "logreg", 1).to_dict()
    fx = learner.learn(training("r8", deployment=rolled), 8)
    assert (fx.rollbacks, fx.learnt) == ((Rollback("logreg", 1),), ())
    assert learner.rollback(fx.rollbacks[0], ({"version": 1}, v1) if found else None) is restored
    for offset in (8, 9):  # the rollback rides on every later record: applied once
        fx = learner.learn(training(f"r{offset}", deployment=rolled), offset)
        assert (fx.fetch, fx.learnt) == (False, BOTH)
    reference = make()
    for offset, i in enumerate([0, 1, 2, 3, 4, 8, 9] if restored else range(10)):
        reference.learn(training(f"r{i}"), offset)
    progress = learner.progress["logreg"][1]
    assert progress.digest == reference.progress["logreg"][1].digest
    assert (progress.offset, progress.restore) == (9, [1, 2])


# --- scoring a deployment training has not reached: a preview -----------------------------

def test_a_newer_deployment_is_scored_by_a_preview_keeping_unchanged_models():
    learner = make()
    for i in range(20):
        learner.learn(training(f"r{i}", label=True), i)
    trained = learner.models
    newer = retrain_deployment(0)
    newer["models"][0].pop("retrain_from")  # logreg rebuilt as v2; baseline unchanged
    preview = learner.models_for(Deployment.from_dict(newer))
    assert preview is not trained and learner.models is trained
    assert preview.slots["baseline"] is trained.slots["baseline"]
    assert preview.slots["logreg"] is not trained.slots["logreg"]
    assert learner.models_for(Deployment.from_dict(newer)) is preview  # built once
    assert learner.models_for(Deployment.from_dict(DEFAULT)) is trained
    scores = learner.score(enriched("r50", deployment=newer))
    assert [(s.model, s.version, s.output) for s in scores] == [("logreg", 2, False),
                                                                ("baseline", 1, True)]


# --- checkpoints: what is due, what a save leaves unsaved ---------------------------------

@pytest.mark.parametrize("learnt_during_write, first_unsaved, unsaved", [(0, None, 0),
                                                                          (2, 4, 2)])
def test_saved_keeps_what_was_learnt_while_the_bytes_were_written(learnt_during_write,
                                                                  first_unsaved, unsaved):
    noted = []
    learner = make(on_unsaved=lambda name, p: noted.append((name, p.first_unsaved)))
    for offset in range(4):
        learner.learn(training(f"r{offset}"), offset)
    assert noted == [("logreg", 0), ("baseline", 0)]
    _, progress = learner.progress["logreg"]
    at, n = progress.offset, progress.unsaved
    for offset in range(4, 4 + learnt_during_write):
        learner.learn(training(f"r{offset}"), offset)
    learner.saved("logreg", progress, 1, at, n)
    assert (progress.version, progress.first_unsaved, progress.unsaved) == (1, first_unsaved,
                                                                           unsaved)
    assert learner.unsaved() == (["logreg", "baseline"] if unsaved else ["baseline"])
    assert learner.is_tracked("logreg", progress)


def test_stats_before_and_after_training():
    learner = make()
    assert learner.score(enriched("r0")) != [] and learner.stats() is None
    learner.learn(training("r1"), 0)
    stats = learner.stats()
    assert {n: (s["n"], s["offset"], s["unsaved"], s["role"]) for n, s in stats.items()} == {
        "logreg": (1, 0, 1, "champion"), "baseline": (1, 0, 1, "canary")}
