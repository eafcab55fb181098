"""watch_partitions: a held partition with records waiting that stopped moving is logged,
counted (``rendezvous_partition_stalls``), resumed and re-seeked to where its fetch stood.

Faust pauses a worker's partitions while it rebalances and recovers tables, and resumes
them when recovery completes, unless another rebalance began meanwhile ("Recovery
rebalancing again"), which a broker outage can cause; a partition left paused is a silent
stall. Outside rebalances and recovery nothing should be paused for long, so resuming is
safe; re-seeking to the fetch position loses and repeats nothing, and makes aiokafka drop
its fetch state for the partition and fetch it anew. If an agent itself is stuck, neither
helps, but the stall is no longer silent.
"""

from __future__ import annotations

import logging
import time

from .stalls import StallDetector

log = logging.getLogger(__name__)

WATCH_EVERY_S = 5.0


def attach(rt) -> None:
    app = rt.app
    detector = StallDetector(after_s=rt.settings.stall_after_s)

    @app.timer(WATCH_EVERY_S, name="watch_partitions")
    async def watch_partitions() -> None:
        if app.rebalancing or app.tables.recovery.in_recovery:
            return
        consumer = app.consumer
        held = {tp for tp in app.assignor.assigned_actives()
                if tp.topic in app.topics.acking_topics}
        detector.forget(held)
        if not held:
            return
        ends = await consumer.highwaters(*held)
        now = time.monotonic()
        for tp in sorted(held):
            # Kafka's convention on both sides: the next offset to commit, fetch or write.
            committed = consumer._committed_offset.get(tp)
            position = await consumer.position(tp)
            if not detector.observe(now, tp, committed, position, ends[tp]):
                continue
            target = position if position is not None else committed
            rt.metrics.partition_stalls.labels(tp.topic).inc()
            log.warning("partition %s/%d stalled: end %s, committed %s, fetch position %s, "
                        "paused %s, unchanged for %.0fs; resuming and re-seeking to %s",
                        tp.topic, tp.partition, ends[tp], committed, position,
                        tp in consumer._paused_partitions, rt.settings.stall_after_s, target)
            consumer.resume_partitions({tp})
            if target is not None:
                await consumer.seek(tp, target)
