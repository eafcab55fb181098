"""``python -m bench.decode``: what `schemas.decode` costs per record, for each kind.

Decodes a realistic payload of each kind (bytes in, validated record out) many
times and prints the median of several timed rounds in microseconds per record.
Writes decode.json to $BENCH_OUT (default bench/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from schemas import (
    CheckpointMeta,
    DriftEvent,
    Enriched,
    Event,
    LabelRecord,
    Limits,
    Result,
    Score,
    StateUpdate,
    Training,
    decode,
    encode,
)

T0 = 1_700_000_000.5
FEATURES = {f"f{i}": i * 0.5 for i in range(20)}

ENRICHED = Enriched(
    tenant="acme",
    request_id="r-000123",
    entity="user-7",
    ts=T0,
    features=FEATURES,
    state={"balance": 100.0, "age_days": 340.0},
    state_version=4,
    aggregates={"amount_mean_1h": 10.25, "count_1h": 3.0},
    context={"eur_usd": 1.08},
    context_version=2,
    deployment={"champion": "arf", "pools": ["fast", "heavy"], "deadline_ms": 50},
    enriched_at=T0 + 0.01,
)

#: One payload per kind, as a producer would write it.
RECORDS = {
    "events": Event(
        tenant="acme", request_id="r-000123", entity="user-7", ts=T0, features=FEATURES, label=True
    ),
    "state-updates": StateUpdate(
        tenant="acme", entity="user-7", version=4, ts=T0, values={"balance": 100.0}
    ),
    "labels": LabelRecord(tenant="acme", request_id="r-000123", label=True, ts=T0),
    "enriched": ENRICHED,
    "scores": Score(
        tenant="acme", request_id="r-000123", model="arf", version=3, role="champion",
        pool="heavy", latency_ms=4.5, scored_at=T0, output=1, proba=0.83,
    ),
    "results": Result(
        tenant="acme", request_id="r-000123", entity="user-7", reason="champion",
        latency_ms=5.0, decided_at=T0, model="arf", version=3, role="champion", output=1,
    ),
    "training": Training(
        tenant="acme", request_id="r-000123", label=True, source="inline",
        enriched=ENRICHED, labelled_at=T0,
    ),
    "drift": DriftEvent(
        tenant="acme", model="arf", signal="feature:f1", training_offset=1200, n_before=1000,
        n_after=200, mean_before=0.1, mean_after=-0.4, detected_at=T0,
    ),
    "checkpoints": CheckpointMeta(
        tenant="acme", model="arf", version=3, training_offset=10, metrics={"accuracy": 0.91},
        created_at=T0, size_bytes=52_311, signature="0f" * 32, parent_version=2,
    ),
}


def per_record_us(kind: str, data: bytes, limits: Limits, n: int, rounds: int) -> float:
    """Median over `rounds` of the mean decode time of `data`, in microseconds."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            decode(kind, data, limits)
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20_000, help="decodes per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=os.environ.get("BENCH_OUT", "bench/results"))
    args = ap.parse_args()
    limits = Limits()
    result = {}
    for kind, record in RECORDS.items():
        data = encode(record)
        decode(kind, data, limits)  # fails loudly if the sample is not valid
        us = per_record_us(kind, data, limits, args.n, args.rounds)
        result[kind] = {"us_per_record": round(us, 3), "payload_bytes": len(data)}
        print(f"{kind:14} {us:8.2f} us/record  ({len(data)} bytes)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "decode.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'decode.json'}")


if __name__ == "__main__":
    main()
