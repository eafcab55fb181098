import pytest
from river import base

from learning.deployment import Deployment, default_deployment
from learning.tenant_models import Changes, TenantModels


def deployment(version, models, task="classification"):
    return Deployment.from_dict(
        {
            "task": task,
            "version": version,
            "models": [
                {"name": n, "spec": spec, "params": params, "role": role, "pool": pool, "version": v}
                for n, spec, params, role, pool, v in models
            ],
            "policy": {"deadline_ms": 50.0, "fallback": [], "ab_model": None, "ab_split": 0.0, "default_output": None},
        }
    )


V1 = [
    ("lr", "logreg", {}, "champion", "fast", 1),
    ("tree", "hoeffding", {}, "challenger", "fast", 1),
    ("base", "baseline", {}, "canary", "fast", 1),
    ("forest", "arf", {"n_models": 2}, "shadow", "heavy", 1),
]


@pytest.mark.parametrize(
    "v2, expected, names",
    [
        (V1, Changes(), ["lr", "tree", "base"]),
        (V1 + [("new", "baseline", {}, "shadow", "fast", 1)], Changes(added=("new",)), ["lr", "tree", "base", "new"]),
        ([V1[0], V1[1], ("base", "baseline", {}, "canary", "fast", 2), V1[3]], Changes(replaced=("base",)), ["lr", "tree", "base"]),
        ([V1[0], ("tree", "hoeffding", {"grace_period": 10}, "challenger", "fast", 1), V1[2]], Changes(replaced=("tree",)), ["lr", "tree", "base"]),
        ([V1[0], ("tree", "arf", {}, "challenger", "fast", 1), V1[2]], Changes(replaced=("tree",)), ["lr", "tree", "base"]),
        ([V1[0], V1[2]], Changes(removed=("tree",)), ["lr", "base"]),
        ([V1[0], ("tree", "hoeffding", {}, "challenger", "heavy", 1), V1[2]], Changes(removed=("tree",)), ["lr", "base"]),
        ([("lr", "logreg", {}, "challenger", "fast", 1), ("tree", "hoeffding", {}, "champion", "fast", 1)], Changes(removed=("base",)), ["lr", "tree"]),
    ],
    ids=["unchanged", "add", "replace-version", "replace-params", "replace-spec", "remove", "move-pool", "promote"],
)
def test_sync(v2, expected, names):
    models = TenantModels(deployment(1, V1), "fast")
    for x, y in [({"a": 1.0}, True), ({"a": -1.0}, False)]:
        models.learn_all(x, y)
    before = dict(models.slots)

    assert models.sync(deployment(2, v2), "fast") == expected
    assert list(models.slots) == names
    for name, slot in models.slots.items():
        fresh = name in expected.added + expected.replaced
        assert (slot is not before.get(name)) == fresh
        assert slot.n_learned == (0 if fresh else 2)
        assert slot.role == next(role for n, _, _, role, _, _ in v2 if n == name)


def test_promotion_keeps_learned_state():
    models = TenantModels(deployment(1, V1), "fast")
    models.learn_all({"a": 1.0}, True)
    tree = models.slots["tree"]
    models.sync(deployment(2, [("lr", "logreg", {}, "challenger", "fast", 1), ("tree", "hoeffding", {}, "champion", "fast", 1)]), "fast")
    assert models.slots["tree"] is tree
    assert (tree.role, tree.n_learned) == ("champion", 1)


def test_same_version_is_not_reread():
    # The deployment version is the contract: an unchanged version costs nothing.
    models = TenantModels(deployment(1, V1), "fast")
    assert models.sync(deployment(1, V1[:1]), "fast") == Changes()
    assert list(models.slots) == ["lr", "tree", "base"]
    assert not Changes()
    assert Changes(removed=("x",))


def test_pool_filter():
    assert list(TenantModels(default_deployment(), "heavy").slots) == ["hoeffding"]
    assert list(TenantModels(default_deployment(), "gpu").slots) == []


class Raising(base.Classifier):
    def learn_one(self, x, y):
        raise RuntimeError("cannot learn")

    def predict_proba_one(self, x):
        raise KeyError("missing")


def test_a_failing_model_does_not_stop_the_others():
    models = TenantModels(deployment(1, V1), "fast")
    models.learn_all({"a": 1.0}, True)
    models.slots["tree"].model = Raising()

    scored = {slot.name: (s.output, s.error) for slot, s in models.score_all({"a": 1.0})}
    assert scored == {"lr": (True, None), "tree": (None, "KeyError: 'missing'"), "base": (True, None)}

    assert models.learn_all({"a": 1.0}, True) == {"lr": 0.0, "base": 0.0}
    tree = models.slots["tree"]
    assert (tree.n_learned, tree.n_learn_failures, tree.last_learn_error) == (1, 1, "RuntimeError: cannot learn")
    assert [models.slots[n].n_learned for n in ("lr", "base")] == [2, 2]


def test_failing_drill_in_a_deployment():
    models = TenantModels(
        deployment(1, [("lr", "logreg", {}, "champion", "fast", 1), ("bad", "failing", {"every": 1}, "challenger", "fast", 1)]),
        "fast",
    )
    models.learn_all({"a": 1.0}, True)
    scored = [(slot.name, s.output, s.error) for slot, s in models.score_all({"a": 1.0})]
    assert scored == [("lr", True, None), ("bad", None, "RuntimeError: drill: prediction 2 fails")]
