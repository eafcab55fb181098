"""The stall check: a held partition with records waiting whose commit and fetch stood still."""

from __future__ import annotations

import pytest

from app.stalls import StallDetector

# (seconds, committed, position, end) looks at one partition -> stalled at each look
CASES = [
    pytest.param([(0, 5, 9, 12), (10, 5, 9, 12), (30, 5, 9, 12)], [False, False, True],
                 id="stuck-for-after_s"),
    pytest.param([(0, 5, 9, 12), (29.9, 5, 9, 12)], [False, False], id="not-yet"),
    pytest.param([(0, 5, 9, 12), (20, 6, 9, 12), (45, 6, 9, 12), (50, 6, 9, 12)],
                 [False, False, False, True], id="a-commit-restarts-the-clock"),
    pytest.param([(0, 5, 9, 12), (20, 5, 12, 12), (45, 5, 12, 12), (50, 5, 12, 12)],
                 [False, False, False, True], id="a-fetch-restarts-the-clock"),
    pytest.param([(0, 12, 12, 12), (100, 12, 12, 12)], [False, False], id="caught-up-is-idle"),
    pytest.param([(0, None, 3, 9), (30, None, 3, 9)], [False, True], id="nothing-committed-yet"),
    pytest.param([(0, 4, None, 9), (30, 4, None, 9)], [False, True], id="fetch-awaiting-reset"),
    pytest.param([(0, 5, 9, 12), (30, 5, 9, 12), (40, 5, 9, 12), (60, 5, 9, 12)],
                 [False, True, False, True], id="re-armed-after-each-flag"),
    pytest.param([(0, 5, 9, 12), (20, 12, 12, 12), (25, 12, 12, 20), (50, 12, 12, 20),
                  (55, 12, 12, 20)], [False, False, False, False, True],
                 id="new-records-after-catching-up-start-a-new-clock"),
]


@pytest.mark.parametrize("looks, expected", CASES)
def test_stalled_at_each_look(looks, expected):
    d = StallDetector(after_s=30)
    assert [d.observe(t, "events/0", c, p, e) for t, c, p, e in looks] == expected


def test_partitions_are_judged_apart_and_forgotten_when_no_longer_held():
    d = StallDetector(after_s=30)
    d.observe(0, "events/0", 1, 2, 5)
    d.observe(0, "events/1", 1, 2, 5)
    d.forget({"events/1"})
    assert (d.observe(30, "events/0", 1, 2, 5), d.observe(30, "events/1", 1, 2, 5)) == (False, True)


@pytest.mark.parametrize("after_s", [0, -1.0])
def test_after_s_must_be_positive(after_s):
    with pytest.raises(ValueError, match="after_s must be positive"):
        StallDetector(after_s=after_s)
