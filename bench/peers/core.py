"""What every peer does per record, shared so that the peers do the same River work as
Rendezvous's one-model core: the same zoo model (scaler | logistic regression), the same
flat input (raw features + ``state.``-prefixed entity state), predict before learn."""

from __future__ import annotations

import time

from learning.enrichment import model_input
from learning.zoo import build


def new_model():
    return build("logreg", "classification")


def is_state_update(value: dict) -> bool:
    return "values" in value


def newer(current: dict | None, update: dict) -> bool:
    """Last write wins by (version, ts), as in Rendezvous."""
    return current is None or (update["version"], update["ts"]) > (current["version"], current["ts"])


def score_and_learn(model, event: dict, entity_state: dict | None) -> dict:
    x = model_input(event["features"], entity_state or {}, {}, {})
    probas = model.predict_proba_one(x)
    output = max(probas, key=probas.get) if probas else None
    proba = float(probas[output]) if probas else None
    if event.get("label") is not None:
        model.learn_one(x, event["label"])
    now = time.time()
    return {"tenant": event["tenant"], "request_id": event["request_id"],
            "entity": event["entity"], "output": output, "proba": proba,
            "latency_ms": (now - event["ts"]) * 1000.0, "decided_at": now}
