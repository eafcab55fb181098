"""watch_partitions: a held partition with records waiting that stopped moving is logged,
counted (``rendezvous_partition_stalls``), resumed and re-read from its committed offset; so
is one whose commit is held by a hole below processed records (``rendezvous_commit_holes``).

Two stalls have been seen after a worker or broker restart, both silent until now:
- records fetched (the fetch position at the end) but never handed to the agent, so never
  acknowledged, and the commit stuck below them for good (a CI run of the kill -9 drill:
  48 requests never answered);
- a partition left paused, which Faust does when a rebalance interrupts the recovery that
  paused it ("Recovery rebalancing again");
- a record skipped by a stream after a rebalance while later ones were processed (the
  broker kill-and-restart drill: 16 to 35 requests a run). Faust used to commit over it;
  app.strict_commits holds the commit there instead, and this re-reads it.
Resuming the partition and seeking it back to its committed offset has Faust fetch and
deliver again everything not yet acknowledged; the agents are idempotent for records
delivered twice (requests are answered once, labels learnt once). If an agent itself is
stuck, neither helps, but the stall is no longer silent.
"""

from __future__ import annotations

import logging
import time

from .stalls import HoleDetector, StallDetector

log = logging.getLogger(__name__)

WATCH_EVERY_S = 5.0


def attach(rt) -> None:
    app = rt.app
    detector = StallDetector(after_s=rt.settings.stall_after_s)
    holes = HoleDetector()

    @app.timer(WATCH_EVERY_S, name="watch_partitions")
    async def watch_partitions() -> None:
        if app.rebalancing or app.tables.recovery.in_recovery:
            return
        consumer = app.consumer
        held = {tp for tp in app.assignor.assigned_actives()
                if tp.topic in app.topics.acking_topics}
        detector.forget(held)
        holes.forget(held)
        if not held:
            return
        ends = await consumer.highwaters(*held)
        now = time.monotonic()
        for tp in sorted(held):
            # Kafka's convention on both sides: the next offset to commit, fetch or write.
            if consumer._committed_offset.get(tp) is None:  # nothing committed yet
                earliest = (await consumer.earliest_offsets(tp))[tp]
                # From where the group started: strict commits then hold a hole from the
                # group's start too (unless Faust committed while we asked).
                if consumer._committed_offset.get(tp) is None:
                    consumer._committed_offset[tp] = earliest
            committed = consumer._committed_offset[tp]
            lowest_acked = min(consumer._acked.get(tp) or (), default=None)
            if holes.observe(tp, committed, lowest_acked):
                await reread_hole(tp, committed, lowest_acked)
                continue
            position = await consumer.position(tp)
            if not detector.observe(now, tp, committed, position, ends[tp]):
                continue
            rt.metrics.partition_stalls.labels(tp.topic).inc()
            log.warning("partition %s/%d stalled: end %s, committed %s, fetch position %s, "
                        "paused %s, unchanged for %.0fs; resuming and re-reading from %s",
                        tp.topic, tp.partition, ends[tp], committed, position,
                        tp in consumer._paused_partitions, rt.settings.stall_after_s, committed)
            await reread(tp, committed)

    async def reread_hole(tp, committed: int, lowest_acked: int) -> None:
        rt.metrics.commit_holes.labels(tp.topic).inc()
        earliest = (await app.consumer.earliest_offsets(tp))[tp]
        if earliest > committed:  # deleted by retention before anyone processed them
            log.warning("partition %s/%d: records %d to %d expired unprocessed",
                        tp.topic, tp.partition, committed, earliest - 1)
            app.consumer._committed_offset[tp] = committed = earliest
        log.warning("partition %s/%d: commit held at %d, records from %d on processed; "
                    "re-reading from %d", tp.topic, tp.partition, committed, lowest_acked,
                    committed)
        await reread(tp, committed)

    async def reread(tp, offset: int) -> None:
        """Have Faust fetch and deliver ``tp`` again from ``offset``, paused or not."""
        app.consumer.resume_partitions({tp})
        await app.consumer.seek(tp, offset)
