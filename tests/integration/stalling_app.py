"""The worker app with two faults injected once it has recovered and begun serving, each
left for the worker's own partition watch to find, as seen after restarts:

- partition 0 of ``events`` paused, as by a recovery interrupted by a rebalance;
- partition 1 of ``events`` fetched but never handed to the agent (its read offset pushed
  past the end, so Faust drops what it fetches), as in a CI run of the kill -9 drill.

Run as ``faust -A tests.integration.stalling_app worker``.
"""

from faust.types import TP

from app import app

_injected = False


@app.timer(1.0)
async def inject_stalls() -> None:
    global _injected
    events = f"{app.rendezvous.settings.env}.events"
    paused, dropped = TP(events, 0), TP(events, 1)
    if _injected or app.rebalancing or app.tables.recovery.in_recovery or \
            not {paused, dropped} <= app.consumer.assignment():
        return
    _injected = True
    app.consumer.pause_partitions({paused})
    app.consumer._read_offset[dropped] = 10**12
    app.log.warning("fault injected: %s paused, %s dropped", paused, dropped)
