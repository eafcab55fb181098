"""The app's consumer never commits past a record no agent processed (app.strict_commits).

Faust's own rules, on the left of each case, are what the broker kill-and-restart drill lost
requests to."""

from __future__ import annotations

import logging

import pytest
from faust.types import TP

from app.factory import create_app
from app.settings import Settings
from app.strict_commits import StrictCommits

EVENTS = TP("rdv.events", 0)
CHECKPOINTS = TP("rdv.checkpoints", 0)  # compacted: offsets may jump


@pytest.fixture
async def consumer(tmp_path):
    app = create_app(Settings(env="rdv", data_dir=str(tmp_path / "data")))
    assert isinstance(app.consumer, StrictCommits)
    return app.consumer


# (partition, committed offset, acknowledged offsets) -> offset to commit (None: hold)
CASES = [
    pytest.param(EVENTS, 5, [5, 6, 7], 8, id="contiguous-from-committed"),
    pytest.param(EVENTS, 5, [6, 7], None, id="hole-at-committed (Faust: 8)"),
    pytest.param(EVENTS, 5, [7, 8], None, id="wider-hole"),
    pytest.param(EVENTS, 0, [1, 2], None, id="hole-at-0 (Faust: 3)"),
    pytest.param(EVENTS, 5, [5, 6, 9], 7, id="stops-at-a-later-hole"),
    pytest.param(EVENTS, None, [3, 4], 5, id="nothing-committed-yet: Faust's rule"),
    pytest.param(CHECKPOINTS, 5, [6, 7], 8, id="compacted: Faust's rule"),
]


@pytest.mark.parametrize("tp, committed, acked, expected", CASES)
async def test_offset_to_commit(consumer, tp, committed, acked, expected):
    consumer._committed_offset[tp] = committed
    consumer._acked[tp] = list(acked)
    consumer._acked_index[tp] = set(acked)
    assert consumer._new_offset(tp) == expected


async def test_a_jump_in_fetched_offsets_is_not_taken_as_processed(consumer, caplog):
    consumer._committed_offset[EVENTS] = 114
    with caplog.at_level(logging.WARNING, logger="app.strict_commits"):
        await consumer._add_gap(EVENTS, 115, 126)
    consumer._acked[EVENTS] = [126]
    assert (list(consumer._gap[EVENTS]), consumer._new_offset(EVENTS)) == ([], None)
    assert caplog.messages == ["offsets of rdv.events/0 jumped from 114 to 126: the records "
                               "between were not processed and are not counted as done"]


async def test_a_jump_in_a_compacted_topic_is_a_gap(consumer):
    consumer._committed_offset[CHECKPOINTS] = 114
    await consumer._add_gap(CHECKPOINTS, 115, 125)
    consumer._acked[CHECKPOINTS] = [126, 127]
    assert consumer._new_offset(CHECKPOINTS) == 128
