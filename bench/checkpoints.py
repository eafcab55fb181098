"""Checkpoint size and time per model kind: ``python -m bench.checkpoints [n_examples ...]``.

Each zoo model (classification) learns n examples of River's Agrawal stream through its
slot, then is sealed (pickle, zlib, HMAC-SHA256) and opened (verify, decompress, unpickle)
exactly as the pools do it. Prints one line per (kind, n): pickled and sealed bytes, Kafka
chunks, and milliseconds to seal and to open (best of 3).
"""

from __future__ import annotations

import pickle
import sys
import time

from river.datasets import synth

from learning.checkpoint import open_sealed, seal, split
from learning.deployment import ModelDeployment
from learning.progress import ModelProgress, snapshot
from learning.slot import ModelSlot

KEY = "bench-signing-key-0123456789"
KINDS = [("logreg", {}), ("hoeffding", {"grace_period": 50}), ("arf", {}), ("baseline", {})]


def best_ms(fn, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, (time.perf_counter() - t) * 1000)
    return best, out


def measure(spec: str, params: dict, n: int) -> dict:
    slot = ModelSlot(ModelDeployment(spec, spec, params, role="champion"), "classification")
    for x, y in synth.Agrawal(seed=1).take(n):
        slot.learn(x, y)
    state = snapshot(slot, ModelProgress(offset=n - 1, predictions=n))
    pickled = len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    seal_ms, sealed = best_ms(lambda: seal(state, key=KEY, tenant="t", model=spec, version=1))
    open_ms, _ = best_ms(lambda: open_sealed(sealed.payload, sealed.signature, key=KEY,
                                             tenant="t", model=spec, version=1))
    return {"kind": spec, "n": n, "pickled": pickled, "sealed": sealed.size,
            "chunks": len(split(sealed.payload)), "seal_ms": seal_ms, "open_ms": open_ms}


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 10_000]
    print(f"{'kind':<10} {'examples':>8} {'pickled B':>11} {'sealed B':>10} {'chunks':>6} "
          f"{'seal ms':>8} {'open ms':>8}")
    for n in sizes:
        for spec, params in KINDS:
            r = measure(spec, params, n)
            print(f"{r['kind']:<10} {r['n']:>8} {r['pickled']:>11,} {r['sealed']:>10,} "
                  f"{r['chunks']:>6} {r['seal_ms']:>8.1f} {r['open_ms']:>8.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
