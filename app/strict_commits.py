"""A consumer that never commits past a record no agent has processed.

Faust 0.15.3 can commit over records it never handed to an agent, and after a broker
restart it did: the kill-and-restart drill lost 16 to 35 requests a run, whose events were
committed as done without being enriched. Two rules of Faust's make that possible:

- a jump in the offsets it fetches is taken for compaction and the skipped range marked as
  acknowledged (``Consumer._add_gap``). Our acking topics are neither compacted nor
  transactional, so their offsets never jump; a jump there is a record fetched and dropped
  (the drain loop re-reading a stale batch while a rebalance seeks the partition back);
- the commit only waits for a hole *more* than one offset above the committed one
  (``Consumer._new_offset``), so one record at the committed offset that a stream skipped
  (a stale generation after a rebalance) is committed over.

Here neither happens on a non-compacted topic: a hole holds the commit where it is, so a
crash re-reads it, and the partition watch (app.partition_watch) re-reads it at once.
"""

from __future__ import annotations

import logging
from typing import Optional

from faust.types import TP

log = logging.getLogger(__name__)


class StrictCommits:
    """Mixed into the transport's consumer class by ``consumer_class`` below."""

    # Topics whose offsets may legitimately jump (compaction); Faust's rules stand for them.
    compacted_topics: frozenset = frozenset()

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if tp.topic in self.compacted_topics:
            await super()._add_gap(tp, offset_from, offset_to)
            return
        # Faust passes the last offset read + 1 and the offset just fetched.
        log.warning("offsets of %s/%d jumped from %d to %d: the records between were not "
                    "processed and are not counted as done", tp.topic, tp.partition,
                    offset_from - 1, offset_to)

    def _new_offset(self, tp: TP) -> Optional[int]:
        if tp.topic not in self.compacted_topics:
            acked = self._acked[tp]
            committed = self._committed_offset[tp]
            # Kafka's convention: the committed offset is the next record to process.
            if acked and committed is not None and min(acked) > committed:
                return None
        return super()._new_offset(tp)


def consumer_class(base: type, compacted_topics: frozenset) -> type:
    """``base`` (the transport's consumer) with strict commits."""
    return type(f"Strict{base.__name__}", (StrictCommits, base),
                {"compacted_topics": frozenset(compacted_topics)})
