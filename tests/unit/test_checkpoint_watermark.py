"""The replay watermark kept incrementally (`UnsavedIndex`) is exactly `replay_from` of the
live models, whatever they learn, whenever they are saved, rebuilt or dropped; and the index
stays O(models) in size."""

from __future__ import annotations

import random

import pytest

from learning.progress import ModelProgress, UnsavedIndex, replay_from


@pytest.mark.parametrize("seed", range(5))
def test_the_index_agrees_with_a_scan_of_the_models(seed):
    rng = random.Random(seed)
    live: dict[str, ModelProgress] = {f"m{i}": ModelProgress() for i in range(40)}
    index = UnsavedIndex(lambda key, progress: live.get(key) is progress)
    offset = -1
    for _ in range(5_000):
        op = rng.random()
        key = rng.choice(sorted(live)) if live else None
        if op < 0.6 and key is not None:  # the model learns the next record
            offset += 1
            p = live[key]
            first = p.first_unsaved
            p.advance(offset, f"r{offset}", True)
            if first is None:
                index.note(key, p)
        elif op < 0.8 and key is not None:  # checkpointed
            live[key].saved(live[key].version + 1)
        elif op < 0.85 and key is not None:  # checkpointed while it learnt more
            p = live[key]
            if p.first_unsaved is not None:
                p.first_unsaved = p.offset + 1
                index.note(key, p)
        elif op < 0.9 and key is not None:  # rebuilt or restored: a new progress
            live[key] = ModelProgress(offset=live[key].offset)
        elif op < 0.95 and key is not None:  # removed from the deployment
            del live[key]
        else:  # a new model
            live[f"n{rng.randrange(10**6)}"] = ModelProgress()
        assert index.replay_from(offset) == replay_from(live.values(), offset)
        assert len(index) <= max(UnsavedIndex.COMPACT_MIN, 2 * len(live)) + 1


def test_stale_entries_are_compacted_away():
    progress = ModelProgress()
    index = UnsavedIndex()
    # A model that is always the oldest unsaved one keeps its entry at the top, so the
    # entries of the others go stale below it: compaction keeps the heap bounded.
    progress.advance(0, "r0", True)
    index.note("old", progress)
    other = ModelProgress()
    for offset in range(1, 20_000):
        other.advance(offset, f"r{offset}", True)
        index.note("other", other)
        other.saved(offset)
        assert index.replay_from(offset) == -1
    assert len(index) <= UnsavedIndex.COMPACT_MIN + 1
