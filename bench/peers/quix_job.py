"""The core job in Quix Streams: one StreamingDataFrame over events + state-updates (concat),
keyed by tenant; entity state in Quix's state store (RocksDB, changelogged), the tenant's River
model in process memory; results to ``<env>.results``.

``python -m bench.peers.quix_job BOOTSTRAP ENV STATE_DIR``; runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import os
import sys

from quixstreams import Application

from bench.peers.core import is_state_update, new_model, newer, score_and_learn


def build_app(bootstrap: str, env: str, state_dir: str):
    app = Application(broker_address=bootstrap, consumer_group=f"{env}-quix",
                      auto_offset_reset="earliest", state_dir=state_dir, loglevel=os.environ.get("BENCH_QUIX_LOGLEVEL", "WARNING"))
    events = app.topic(f"{env}.events", key_deserializer="str", value_deserializer="json")
    updates = app.topic(f"{env}.state-updates", key_deserializer="str", value_deserializer="json")
    results = app.topic(f"{env}.results", key_serializer="str", value_serializer="json")
    models: dict = {}

    def step(value: dict, state):
        key = "entity:" + value["entity"]
        if is_state_update(value):
            if newer(state.get(key), value):
                state.set(key, {"version": value["version"], "ts": value["ts"],
                                "values": value["values"]})
            return None
        model = models.get(value["tenant"])
        if model is None:
            model = models[value["tenant"]] = new_model()
        stored = state.get(key)
        return score_and_learn(model, value, stored["values"] if stored else None)

    sdf = app.dataframe(events).concat(app.dataframe(updates))
    sdf = sdf.apply(step, stateful=True).filter(lambda v: v is not None)
    sdf.to_topic(results)
    return app


if __name__ == "__main__":
    build_app(*sys.argv[1:4]).run()
