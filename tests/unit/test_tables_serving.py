"""The serving tables' typed entries: what the changelog carries and what comes back."""

from __future__ import annotations


import faust
import pytest

from learning.deployment import default_deployment
from learning.policy import ScoreView, on_score, open_request
from tables.serving import (AwaitingEntry, AwaitingLabel, Closed, EarlyLabel, Labelled, Open,
                            PendingEntry, StructCodec, define_serving_tables)



def slot():
    return open_request("acme", "r1", "u1", 100.0, default_deployment())


@pytest.mark.parametrize("entry", [
    Open(slot(), 2, None, b'{"tenant":"acme"}', 100.5, "p/1"),
    Open(on_score(slot(), ScoreView("baseline", 1, "canary", 0.5, None), 100.01)[0], 0, True,
         b"{}", 1.0, "p/1"),
    Closed(closed_at=101.0, partition=2),
])
def test_pending_entries_round_trip(entry):
    codec = StructCodec(PendingEntry)
    assert codec.loads(codec.dumps(entry)) == entry


@pytest.mark.parametrize("entry", [
    AwaitingLabel(b'{"tenant":"acme"}', 1, 3700.0),
    EarlyLabel(False, 1, 160.0, "prod.labels", 7, b'{"label":false}'),
    Labelled(2.5, 1, 3700.0),
])
def test_awaiting_entries_round_trip(entry):
    codec = StructCodec(AwaitingEntry)
    assert codec.loads(codec.dumps(entry)) == entry


def test_a_closing_marker_is_a_few_bytes():
    assert len(StructCodec(PendingEntry).dumps(Closed(closed_at=1.7e9, partition=3))) < 20


def test_open_and_closed_entries_answer_the_sweep_alike():
    opened, closed = Open(slot(), 2, None, b"{}", 100.5, "p/1"), Closed(101.0, 2)
    assert (opened.closed_at, opened.deadline_at) == (None, slot().deadline_at)
    assert (closed.deadline_at, closed.opened_by, closed.enriched_at) == (None, None, None)


def test_the_typed_tables_write_their_changelog_with_their_codec():
    app = faust.App("tables-test", autodiscover=False)
    tables = define_serving_tables(app, 4)
    for table in (tables.pending, tables.awaiting_label):
        assert isinstance(table.value_serializer, StructCodec)
        assert table.changelog_topic.value_serializer is table.value_serializer
        assert table.partitions == 4

