"""Tenants of the pipeline tests (deadlines are generous unless a test is about deadlines: the box is loaded), each with the deployment its scenario needs, and their streams."""

from __future__ import annotations

import random

import orjson

from learning.deployment import default_deployment


def model(name, spec, role, pool="fast", **params):
    return {"name": name, "spec": spec, "params": params, "role": role, "pool": pool,
            "version": 1}


def deployment(models, deadline_ms=30_000.0, fallback=(), ab_model=None, ab_split=0.0):
    return {"task": "classification", "version": 1, "models": models,
            "policy": {"deadline_ms": deadline_ms, "fallback": list(fallback),
                       "ab_model": ab_model, "ab_split": ab_split, "default_output": None}}


DEPLOYMENTS = {
    # A champion far slower than its deadline, alone in its own pool.
    "slow": deployment([model("slowpoke", "sleepy", "champion", pool="slow", delay_ms=2500),
                        model("baseline", "baseline", "canary")],
                       deadline_ms=1000, fallback=["slowpoke", "baseline"]),
    "shadowy": deployment([model("logreg", "logreg", "champion"),
                           model("shadowtree", "hoeffding", "shadow"),
                           model("baseline", "baseline", "canary")]),
    "abtest": deployment([model("logreg", "logreg", "champion"),
                          model("tree", "hoeffding", "challenger"),
                          model("baseline", "baseline", "canary")],
                         ab_model="tree", ab_split=0.3),
    "plus": deployment([model("logreg", "logreg", "champion"), model("baseline", "baseline", "canary")]),
    "minus": deployment([model("logreg", "logreg", "champion"), model("baseline", "baseline", "canary")]),
    "delayed": deployment([model("logreg", "logreg", "champion"),
                           model("tree", "hoeffding", "challenger", pool="heavy"),
                           model("baseline", "baseline", "canary")]),
    "solo": deployment([model("logreg", "logreg", "champion")]),
}
assert default_deployment().to_dict()["models"]  # the other tenants get the default


def event(tenant, request_id, entity, ts, features, label=None) -> tuple[bytes, bytes]:
    body = {"tenant": tenant, "request_id": request_id, "entity": entity, "ts": ts,
            "features": features}
    if label is not None:
        body["label"] = label
    return tenant.encode(), orjson.dumps(body)


def points(seed: int, n: int):
    rng = random.Random(seed)
    return [{"x": rng.uniform(-1, 1), "y": rng.uniform(-1, 1)} for _ in range(n)]
