"""The worker app with one fault injected: once the worker has recovered and begun serving,
partition 0 of ``events`` is paused in Faust's consumer and never resumed by anything but
the worker's own partition watch, as a partition left paused by an interrupted recovery.

Run as ``faust -A tests.integration.stalling_app worker``.
"""

from faust.types import TP

from app import app

_injected = False


@app.timer(1.0)
async def leave_events_0_paused() -> None:
    global _injected
    tp = TP(f"{app.rendezvous.settings.env}.events", 0)
    if _injected or app.rebalancing or app.tables.recovery.in_recovery or \
            tp not in app.consumer.assignment():
        return
    _injected = True
    app.consumer.pause_partitions({tp})
    app.log.warning("fault injected: %s/%d paused", tp.topic, tp.partition)
