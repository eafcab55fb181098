import math

import orjson
import pytest

from learning.enrichment import EntityState, RollingWindow, merge_state, model_input

S = EntityState({"balance": 10.0}, version=2, ts=50.0)


@pytest.mark.parametrize(
    "current, version, ts, expected, changed",
    [
        (None, 1, 1.0, EntityState({"balance": 1.0}, 1, 1.0), True),
        (S, 3, 10.0, EntityState({"balance": 1.0}, 3, 10.0), True),
        (S, 2, 51.0, EntityState({"balance": 1.0}, 2, 51.0), True),
        (S, 2, 50.0, S, False),
        (S, 2, 49.0, S, False),
        (S, 1, 99.0, S, False),
    ],
    ids=["first", "newer-version", "same-version-later", "equal", "same-version-earlier", "older-version"],
)
def test_merge_state(current, version, ts, expected, changed):
    assert merge_state(current, {"balance": 1.0}, version, ts) == (expected, changed)


def test_merge_state_copies_values():
    values = {"balance": 1.0}
    state, _ = merge_state(None, values, 1, 1.0)
    values["balance"] = 2.0
    assert state.values == {"balance": 1.0}


def test_entity_state_round_trip():
    d = orjson.loads(orjson.dumps(S.to_dict()))
    assert d == {"values": {"balance": 10.0}, "version": 2, "ts": 50.0}
    assert EntityState.from_dict(d) == S


@pytest.mark.parametrize(
    "events, expected",
    [
        pytest.param(
            [
                (100.0, {"a": 1.0}),
                (100.5, {"a": 3.0}),
                (105.0, {"a": 5.0, "b": 2}),
                (109.9, {"a": 0.0}),
                (110.0, {"a": 1.0}),
                (125.0, {"a": 1.0}),
            ],
            [
                {"count": 0, "mean.a": 0.0},
                {"count": 1, "mean.a": 1.0},
                {"count": 2, "mean.a": 2.0, "mean.b": 0.0},
                {"count": 3, "mean.a": 3.0, "mean.b": 2.0},
                # Bucket 100 left the window: the events at 100.0 and 100.5 are dropped.
                {"count": 2, "mean.a": 2.5, "mean.b": 2.0},
                {"count": 0, "mean.a": 0.0},
            ],
            id="excludes-current-and-drops-old",
        ),
        pytest.param(
            [
                (125.0, {"a": 1.0}),
                (120.0, {"a": 3.0}),
                (110.0, {"a": 100.0}),
                (125.5, {"a": 0.0}),
            ],
            [
                {"count": 0, "mean.a": 0.0},
                {"count": 1, "mean.a": 1.0},
                {"count": 2, "mean.a": 2.0},
                # The event at 110.0 was older than the window: not counted.
                {"count": 2, "mean.a": 2.0},
            ],
            id="out-of-order",
        ),
        pytest.param(
            [
                (0.0, {"a": True, "s": "x", "n": math.nan}),
                (1.0, {"a": 3}),
                (2.0, {}),
            ],
            [
                {"count": 0, "mean.a": 0.0},
                {"count": 1, "mean.a": 1.0},
                {"count": 2, "mean.a": 2.0},
            ],
            id="numbers-only",
        ),
    ],
)
def test_rolling_window(events, expected):
    window = RollingWindow(window_s=10.0, buckets=10)
    state, got = None, []
    for ts, features in events:
        # Every step goes through JSON, as it does through the table.
        state, agg = window.step(state, ts, features)
        state = orjson.loads(orjson.dumps(state))
        got.append(agg)
    assert got == expected


def test_rolling_window_state_is_bounded_and_exact():
    window = RollingWindow(window_s=6.0, buckets=3)
    state, seen = None, []
    for i in range(500):
        ts = i * 0.7
        state, agg = window.step(state, ts, {"v": float(i)})
        head = math.floor(ts / 2.0)
        in_window = [v for t, v in seen if math.floor(t / 2.0) > head - 3]
        assert agg["count"] == len(in_window)
        assert agg["mean.v"] == (sum(in_window) / len(in_window) if in_window else 0.0)
        assert len(state["buckets"]) <= 3
        seen.append((ts, float(i)))


def test_rolling_window_does_not_mutate_its_input():
    window = RollingWindow(window_s=10.0)
    state, _ = window.step(None, 1.0, {"a": 1.0})
    frozen = orjson.dumps(state)
    window.step(state, 1.5, {"a": 2.0})
    assert orjson.dumps(state) == frozen


def test_rolling_window_ignores_events_older_than_the_window():
    window = RollingWindow(window_s=10.0)
    state, _ = window.step(None, 100.0, {"a": 1.0})
    again, agg = window.step(state, 80.0, {"a": 5.0})
    assert (again, agg) == (state, {"count": 1, "mean.a": 1.0})


@pytest.mark.parametrize("window_s, buckets", [(0.0, 10), (-1.0, 10), (10.0, 0)])
def test_rolling_window_rejects_bad_hyperparameters(window_s, buckets):
    with pytest.raises(ValueError):
        RollingWindow(window_s, buckets)


@pytest.mark.parametrize(
    "features, state, aggregates, context, expected",
    [
        ({}, {}, {}, {}, []),
        (
            {"amount": 5.0, "n": 2, "flag": False, "country": "fr"},
            {"balance": 1.5},
            {"count": 3, "mean.amount": 4.0},
            {"rate": 0.1},
            [
                ("amount", 5.0),
                ("n", 2),
                ("flag", 0),
                ("state.balance", 1.5),
                ("agg.count", 3),
                ("agg.mean.amount", 4.0),
                ("ctx.rate", 0.1),
            ],
        ),
        (
            {"a": math.inf, "b": -math.inf, "c": math.nan, "d": None, "e": [1.0], "f": {"g": 1.0}},
            {"x": "y"},
            {},
            {"on": True},
            [("ctx.on", 1)],
        ),
    ],
)
def test_model_input(features, state, aggregates, context, expected):
    assert list(model_input(features, state, aggregates, context).items()) == expected


def test_model_input_bools_become_ints():
    assert [type(v) for v in model_input({"f": True}, {}, {}, {"g": False}).values()] == [int, int]
