"""bench.drift's choice of response (c) and its recovery floor: exact on hand-made runs."""

from __future__ import annotations

import pytest

from bench.drift import alarm_floor, best_response


def scored(gain: float, ratio: float) -> dict:
    return {"served_acc_gain_pp_vs_online": gain, "recovery_ratio_vs_online": ratio}


@pytest.mark.parametrize("figures, best", [
    # Most targets met wins, even against a higher gain.
    ({"a": scored(2.5, 0.8), "b": scored(2.1, 0.5)}, "b"),
    # Same number met: the lower recovery ratio.
    ({"a": scored(1.5, 0.8), "b": scored(1.0, 0.6)}, "b"),
    ({"a": scored(2.5, 0.8), "b": scored(1.0, 0.6)}, "a"),
    ({"a": scored(0.3, 0.9), "b": scored(1.9, 0.95)}, "a"),
    # Same targets and ratio: the higher gain.
    ({"a": scored(2.2, 0.7), "b": scored(2.6, 0.7)}, "b"),
    # The goals are inclusive.
    ({"a": scored(2.0, 0.5), "b": scored(9.0, 0.51)}, "a"),
])
def test_best_response_ranks_by_targets_then_recovery_then_gain(figures, best):
    assert best_response(figures, list(figures)) == best


def test_best_response_only_considers_the_responses():
    figures = {"online": scored(0.0, 0.1), "a": scored(1.0, 0.9)}
    assert best_response(figures, ["a"]) == "a"


@pytest.mark.parametrize("detections, floor", [
    # Alarm 50 events after the drift: 51 wrong answers (the drift to the alarm, inclusive)
    # stay in the 200-event smoothing until at most 4 are left (2 pp of 200): 246 events.
    ([(1550, "champ", "error")], [246]),
    # An alarm within the smoothing's first fill: the floor is the metric's own 200 events.
    ([(1500, "champ", "error")], [200]),
    # No champion-error alarm after the drift: online's answers, never recovered (censored).
    ([(1400, "champ", "error"), (1550, "tree", "error"), (1560, "canary", "divergence")],
     [1500]),
])
def test_alarm_floor_restores_pre_drift_accuracy_at_the_alarm(detections, floor):
    online = {"served": [1] * 1500 + [0] * 1500, "detections": detections}
    assert alarm_floor([online], (1500,), 3000) == floor
