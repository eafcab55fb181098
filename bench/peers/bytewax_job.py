"""The core job in Bytewax: Kafka input (events + state-updates), keyed by tenant, one
``stateful_map`` whose per-tenant state holds the entity state and the tenant's River model;
results to ``<env>.results`` through the Kafka output.

``python -m bench.peers.bytewax_job BOOTSTRAP ENV``; runs until SIGINT.
"""

from __future__ import annotations

import sys

import orjson

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow

from bench.peers.core import is_state_update, new_model, newer, score_and_learn


class TenantState:
    __slots__ = ("entities", "model")

    def __init__(self) -> None:
        self.entities: dict = {}
        self.model = new_model()


def step(state: TenantState | None, value: dict):
    if state is None:
        state = TenantState()
    if is_state_update(value):
        if newer(state.entities.get(value["entity"]), value):
            state.entities[value["entity"]] = {"version": value["version"], "ts": value["ts"],
                                               "values": value["values"]}
        return state, None
    stored = state.entities.get(value["entity"])
    return state, score_and_learn(state.model, value, stored["values"] if stored else None)


def build_flow(bootstrap: str, env: str) -> Dataflow:
    flow = Dataflow("rendezvous-core")
    kin = kop.input("kafka_in", flow, brokers=[bootstrap],
                    topics=[f"{env}.events", f"{env}.state-updates"])
    keyed = op.map("decode", kin.oks, lambda m: (m.key.decode(), orjson.loads(m.value)))
    scored = op.stateful_map("enrich_score_learn", keyed, step)
    out = op.filter_map("encode", scored, lambda kv: None if kv[1] is None else
                        KafkaSinkMessage(kv[0].encode(), orjson.dumps(kv[1])))
    kop.output("kafka_out", out, brokers=[bootstrap], topic=f"{env}.results")
    return flow


if __name__ == "__main__":
    from bytewax._bytewax import cli_main

    cli_main(build_flow(*sys.argv[1:3]), workers_per_process=1)
