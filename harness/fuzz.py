"""A seeded fuzz corpus for the events topic: valid requests mixed with records built to fail.

Every bad record is made invalid by construction (one mutation operator each), so the
expected dead-letter count is known without trusting the validator under test; the
validator is still used as a cross-check by the tests.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class FuzzRecord:
    key: bytes | None
    value: bytes
    bad: bool
    request_id: str | None  # of a valid record
    operator: str


def valid_event(rng: random.Random, tenant: str, request_id: str) -> dict:
    return {"tenant": tenant, "request_id": request_id, "entity": f"e{rng.randrange(50)}",
            "ts": time.time(), "features": {f"f{i}": rng.uniform(-5, 5) for i in range(rng.randint(1, 6))},
            "label": rng.random() < 0.5}


def _mutations(rng: random.Random, base: dict, key: bytes):
    """(operator, key, value bytes) of one invalid record derived from a valid one."""
    def with_(**changes):
        return orjson.dumps({**base, **changes})

    raw = orjson.dumps(base)
    return rng.choice([
        ("random-bytes", key, rng.randbytes(rng.randint(0, 300))),
        # A proportion, not randint over len(raw): the timestamp changes the length, and the
        # number of draws must not depend on it.
        ("truncated-json", key, raw[: 1 + int(rng.random() * (len(raw) - 2))]),
        ("not-an-object", key, orjson.dumps(rng.choice([[1, 2], "text", 3.5, None, True]))),
        ("infinite-feature", key, raw.replace(b'"f0":', b'"f0":1e400,"x0":', 1)),
        ("bool-feature", key, with_(features={"a": True})),
        ("string-feature", key, with_(features={"a": "1.0"})),
        ("null-feature", key, with_(features={"a": None})),
        ("wrong-type-ts", key, with_(ts="yesterday")),
        ("wrong-type-tenant", key, with_(tenant=7)),
        ("missing-field", key, orjson.dumps({k: v for k, v in base.items() if k != "entity"})),
        ("unknown-field", key, with_(colour="red")),
        ("too-many-features", key, with_(features={f"f{i}": 1.0 for i in range(300)})),
        ("oversize", key, with_(entity="e", features={"f": 1.0}, pad="x" * 70_000)),
        ("control-char-id", key, with_(request_id="r\x07" + base["request_id"])),
        ("deep-nesting", key, b'{"tenant":' + b"[" * 300 + b"]" * 300 + b"}"),
        ("invalid-utf8", key, raw.replace(b'"entity":"', b'"entity":"\xff\xfe', 1)),
        ("key-mismatch", b"someone-else", raw),
        ("no-key", None, raw),
        ("negative-ts", key, with_(ts=-1.0)),
        ("empty", key, b""),
    ])


def corpus(n: int, seed: int = 0, tenants: int = 5, bad_fraction: float = 0.3,
           prefix: str = "fz") -> list[FuzzRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tenant = f"{prefix}-t{rng.randrange(tenants)}"
        base = valid_event(rng, tenant, f"{prefix}-{i}")
        if rng.random() < bad_fraction:
            operator, key, value = _mutations(rng, base, tenant.encode())
            out.append(FuzzRecord(key, value, True, None, operator))
        else:
            out.append(FuzzRecord(tenant.encode(), orjson.dumps(base), False, base["request_id"],
                                  "valid"))
    return out
