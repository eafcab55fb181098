"""The serving tables' typed entries: what the changelog carries and what comes back."""

from __future__ import annotations

import ast
import pathlib

import faust
import pytest

from learning.deployment import default_deployment
from learning.policy import ScoreView, on_score, open_request
from tables.serving import (AwaitingEntry, AwaitingLabel, Closed, EarlyLabel, Labelled, Open,
                            PendingEntry, StructCodec, define_serving_tables)

REPO = pathlib.Path(__file__).resolve().parents[2]


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


def test_tables_import_neither_app_nor_agents():
    for path in (REPO / "tables").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("app", "agents"), f"{path.name} imports {name}"


def test_serving_agents_do_not_import_app():
    for name in ("enrich", "rendezvous", "join_label", "decoy", "control", "state_updates",
                 "drift", "serving", "intake", "deployments"):
        tree = ast.parse((REPO / "agents" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert (node.module or "").split(".")[0] != "app", f"agents/{name}.py"
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "app" for a in node.names), f"agents/{name}.py"
