"""A model pool app: score and learn for the models deployed to this pool, checkpoint them,
and recover them when a training partition is assigned."""

from __future__ import annotations

from . import learn_from_training, pool_checkpoints, score_enriched
from .pool_state import PoolState


def attach(rt) -> None:
    rt.pool = PoolState(rt)
    score_enriched.attach(rt)
    learn_from_training.attach(rt)
    pool_checkpoints.attach(rt)
