"""The worker app with three faults injected once it has recovered and begun serving, each
left for the worker's own partition watch to find, as seen after restarts:

- partition 0 of ``events`` paused, as by a recovery interrupted by a rebalance;
- partition 1 of ``events`` fetched but never handed to the agent (its read offset pushed
  past the end, so Faust drops what it fetches), as in a CI run of the kill -9 drill;
- the first record of partition 2 of ``events`` fetched and dropped while the ones after it
  are processed (its read offset set to 1), as a stream skips a record of a stale
  generation after a broker restart.

Run as ``faust -A tests.integration.stalling_app worker``.
"""

from faust.types import TP

from app import app

_injected = False


@app.timer(1.0)
async def inject_stalls() -> None:
    global _injected
    events = f"{app.rendezvous.settings.env}.events"
    paused, dropped, skipped = TP(events, 0), TP(events, 1), TP(events, 2)
    if _injected or app.rebalancing or app.tables.recovery.in_recovery or \
            not {paused, dropped, skipped} <= app.consumer.assignment() or \
            app.consumer._committed_offset.get(skipped) is None:  # the watch sets it at start
        return
    _injected = True
    app.consumer.pause_partitions({paused})
    app.consumer._read_offset[dropped] = 10**12
    app.consumer._read_offset[skipped] = 1
    app.log.warning("fault injected: %s paused, %s dropped, %s skipping its first record",
                    paused, dropped, skipped)
