import orjson
import pytest

from learning.deployment import Deployment, ModelDeployment, Policy, default_deployment
from learning.policy import Decision, Pending, ScoreView, on_deadline, on_score, open_request

T0 = 100.0
DEADLINE = 100.05  # T0 + 50 ms


def with_shadow(**policy):
    return Deployment(
        task="classification",
        models=(
            ModelDeployment("logreg", "logreg", role="champion"),
            ModelDeployment("hoeffding", "hoeffding", role="challenger"),
            ModelDeployment("baseline", "baseline", role="canary"),
            ModelDeployment("arf", "arf", role="shadow"),
        ),
        policy=Policy(**policy),
    )


def ok(model, output, role="challenger", version=1):
    return ("score", ScoreView(model, version, role, output, None))


def err(model, role="challenger"):
    return ("score", ScoreView(model, 1, role, None, "RuntimeError: boom"))


def decided(model, output, role, reason, version=1):
    return Decision(model, version, role, output, reason)


DEFAULT = Decision(None, None, None, None, "default")

CHAMPION = "champion"


@pytest.mark.parametrize(
    "deployment, steps, expected",
    [
        pytest.param(
            default_deployment(),
            [(100.01, ok("logreg", True, CHAMPION))],
            [decided("logreg", True, CHAMPION, "champion")],
            id="champion-first",
        ),
        pytest.param(
            default_deployment(),
            [(100.01, ok("baseline", False, "canary")), (100.02, ok("hoeffding", True)), (DEADLINE, ("deadline",))],
            [None, None, decided("hoeffding", True, "challenger", "fallback-deadline")],
            id="champion-late",
        ),
        pytest.param(
            default_deployment(),
            [(100.01, err("logreg", CHAMPION)), (100.02, ok("baseline", False, "canary"))],
            [None, decided("baseline", False, "canary", "fallback-error")],
            id="champion-error-then-fallback",
        ),
        pytest.param(
            default_deployment(),
            [(100.01, ok("baseline", False, "canary")), (100.015, ok("hoeffding", True)), (100.02, err("logreg", CHAMPION))],
            [None, None, decided("hoeffding", True, "challenger", "fallback-error")],
            id="champion-error-fallbacks-present",
        ),
        pytest.param(
            default_deployment(),
            [(100.01, err("logreg", CHAMPION)), (100.02, err("hoeffding")), (DEADLINE, ("deadline",))],
            [None, None, DEFAULT],
            id="all-errors",
        ),
        pytest.param(
            default_deployment(),
            [(100.01, ok("baseline", False, "canary")), (100.02, ok("baseline", True, "canary")), (DEADLINE, ("deadline",))],
            [None, None, decided("baseline", False, "canary", "fallback-deadline")],
            id="duplicate-ignored",
        ),
        pytest.param(
            default_deployment(),
            [(100.01, ok("logreg", True, CHAMPION)), (100.02, ok("logreg", False, CHAMPION))],
            [decided("logreg", True, CHAMPION, "champion"), None],
            id="duplicate-champion",
        ),
        pytest.param(
            with_shadow(default_output="unknown"),
            [(100.01, ok("arf", True, "shadow")), (100.049, ("deadline",)), (DEADLINE, ("deadline",))],
            [None, None, Decision(None, None, None, "unknown", "default")],
            id="shadow-only",
        ),
        pytest.param(
            with_shadow(fallback=("baseline", "logreg")),
            [(100.01, ok("hoeffding", True)), (DEADLINE, ("deadline",))],
            [None, DEFAULT],
            id="not-in-fallback-never-served",
        ),
        pytest.param(
            default_deployment(),
            [(100.0, ("deadline",)), (100.2, ("deadline",))],
            [None, DEFAULT],
            id="nothing",
        ),
        pytest.param(
            with_shadow(ab_model="hoeffding", ab_split=1.0),
            [(100.01, ok("logreg", True, CHAMPION)), (100.02, ok("hoeffding", False))],
            [None, decided("hoeffding", False, "challenger", "ab-variant")],
            id="ab-variant",
        ),
        pytest.param(
            with_shadow(ab_model="hoeffding", ab_split=0.0),
            [(100.01, ok("hoeffding", False)), (100.02, ok("logreg", True, CHAMPION))],
            [None, decided("logreg", True, CHAMPION, "champion")],
            id="ab-control",
        ),
        pytest.param(
            with_shadow(ab_model="hoeffding", ab_split=1.0),
            [(100.01, ok("logreg", True, CHAMPION)), (100.02, err("hoeffding"))],
            [None, decided("logreg", True, CHAMPION, "fallback-error")],
            id="ab-variant-error",
        ),
        pytest.param(
            default_deployment(),
            [(DEADLINE, ok("logreg", True, CHAMPION))],
            [decided("logreg", True, CHAMPION, "fallback-deadline")],
            id="champion-at-deadline",
        ),
        pytest.param(
            default_deployment(),
            [(100.01, ok("hoeffding", True)), (DEADLINE, ok("baseline", False, "canary"))],
            [None, decided("hoeffding", True, "challenger", "fallback-deadline")],
            id="fallback-at-deadline",
        ),
    ],
)
def test_rendezvous(deployment, steps, expected):
    p = open_request("acme", "r1", "u1", T0, deployment)
    got = []
    for now, step in steps:
        if step[0] == "deadline":
            p, d = on_deadline(p, now)
        else:
            p, d = on_score(p, step[1], now)
        got.append(d)
    assert got == expected


def test_open_request():
    p = open_request("acme", "r1", "u1", T0, with_shadow(deadline_ms=20.0, ab_model="hoeffding", ab_split=1.0, default_output=0))
    assert p == Pending(
        tenant="acme",
        request_id="r1",
        entity="u1",
        opened_at=100.0,
        deadline_at=100.02,
        primary="hoeffding",
        primary_reason="ab-variant",
        fallback=("logreg", "hoeffding", "baseline"),
        default_output=0,
    )


def test_duplicate_leaves_state_unchanged():
    p = open_request("acme", "r1", "u1", T0, default_deployment())
    p, _ = on_score(p, ScoreView("baseline", 1, "canary", False, None), 100.01)
    again, d = on_score(p, ScoreView("baseline", 2, "canary", True, None), 100.02)
    assert (again, d) == (p, None)


def test_shadow_score_is_recorded():
    p = open_request("acme", "r1", "u1", T0, with_shadow())
    p, d = on_score(p, ScoreView("arf", 1, "shadow", True, None), 100.01)
    assert (d, [s.model for s in p.scores]) == (None, ["arf"])


def test_pending_round_trip():
    p = open_request("acme", "r1", "u1", T0, with_shadow(default_output={"label": None}))
    p, _ = on_score(p, ScoreView("arf", 1, "shadow", [1, 2], None), 100.01)
    p, _ = on_score(p, ScoreView("logreg", 3, "champion", None, "ValueError: x"), 100.02)
    d = orjson.loads(orjson.dumps(p.to_dict()))
    assert d == p.to_dict()
    assert Pending.from_dict(d) == p
    assert d["fallback"] == ["logreg", "hoeffding", "baseline"]
