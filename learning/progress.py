"""Where each model is in its tenant's ``training`` stream, what it predicted along the way,
and what a checkpoint of it holds.

A model's state is a function of the training records it learnt; `ModelProgress.offset`
says which (every record up to that offset of the tenant's partition), so recovery and
replay can skip exactly what a restored state already reflects. `ModelProgress.digest`
chains the model's progressive prediction on every record it learnt (predict, then learn):
two runs that fed a model the same records agree on every prediction if and only if, short
of a SHA-256 collision, their digests and counts are equal. That is how a recovered model
is compared with the model of a run that never crashed.

Examples
--------
>>> p = ModelProgress()
>>> p.advance(0, "r1", True)
>>> p.advance(1, "r2", False)
>>> p.offset, p.predictions, p.first_unsaved, p.digest[:12]
(1, 2, 0, '8548aced3318')
>>> p.saved(1)
>>> p.first_unsaved, p.unsaved, p.version
(None, 0, 1)

"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Iterable

import orjson

from learning.deployment import ModelDeployment
from learning.slot import ModelSlot

__all__ = ["ZERO_DIGEST", "ModelProgress", "chain", "fingerprint", "snapshot", "restore",
           "replay_from", "StateMismatch"]

ZERO_DIGEST = "0" * 64
STATE_FORMAT = 1


def chain(digest: str, request_id: str, prediction) -> str:
    """The next digest: SHA-256 of the previous one, the request and the prediction.

    The request id rather than the offset: a reference run in another environment sees the
    same records at possibly different offsets.

    >>> chain(ZERO_DIGEST, "r1", 0.5) == chain(ZERO_DIGEST, "r1", 0.5000001)
    False
    """
    item = orjson.dumps([request_id, prediction], option=orjson.OPT_SERIALIZE_NUMPY)
    return hashlib.sha256(bytes.fromhex(digest) + item).hexdigest()


@dataclass
class ModelProgress:
    """One model's position in its tenant's training stream.

    Parameters
    ----------
    offset
        Last training offset the model's state reflects (-1: none).
    digest, predictions
        Chain of the progressive predictions (see `chain`) and how many it covers.
    first_unsaved
        Offset of the first record learnt since the last checkpoint (None: nothing unsaved).
    unsaved
        Records learnt since the last checkpoint.
    version
        Checkpoint version this state was last saved as or restored from (0: none).
    restore
        ``[version, token]`` of the last rollback applied to this model, so that a rollback
        riding on every later deployment is applied once.

    """

    offset: int = -1
    digest: str = ZERO_DIGEST
    predictions: int = 0
    first_unsaved: int | None = None
    unsaved: int = 0
    version: int = 0
    restore: list | None = None

    def advance(self, offset: int, request_id: str, prediction) -> None:
        """The model predicted `prediction` for the record at `offset`, then learnt it."""
        self.digest = chain(self.digest, request_id, prediction)
        self.predictions += 1
        self.offset = offset
        if self.first_unsaved is None:
            self.first_unsaved = offset
        self.unsaved += 1

    def saved(self, version: int) -> None:
        self.version = version
        self.first_unsaved = None
        self.unsaved = 0

    def public(self) -> dict:
        """What /stats/ shows."""
        return {"offset": self.offset, "digest": self.digest, "predictions": self.predictions,
                "checkpoint": self.version, "unsaved": self.unsaved}


class StateMismatch(ValueError):
    """A checkpointed state that belongs to another build of the model (spec, params, version)."""


def fingerprint(task: str, m: ModelDeployment) -> bytes:
    """What decides whether a model is rebuilt (`TenantModels.sync`): a state is only ever
    restored into a model with the same fingerprint."""
    return orjson.dumps([task, m.spec, m.params, m.version], option=orjson.OPT_SORT_KEYS)


def snapshot(slot: ModelSlot, progress: ModelProgress) -> dict:
    """The state a checkpoint holds: the slot (model, metric, counters) and its progress."""
    p = asdict(progress)
    p.pop("first_unsaved")
    p.pop("unsaved")
    return {"format": STATE_FORMAT, "slot": slot, "progress": p}


def restore(state: dict, task: str, m: ModelDeployment) -> tuple[ModelSlot, ModelProgress]:
    """The slot and progress of a checkpointed `state`, for the deployed model `m`.

    Raises `StateMismatch` if the state is of another build of the model.

    >>> from learning.deployment import ModelDeployment
    >>> m = ModelDeployment("tree", "hoeffding", role="champion")
    >>> slot = ModelSlot(m, "classification")
    >>> progress = ModelProgress(offset=9, predictions=3)
    >>> back, p = restore(snapshot(slot, progress), "classification",
    ...                   ModelDeployment("tree", "hoeffding", role="challenger"))
    >>> back.role, p.offset, p.predictions, p.first_unsaved
    ('challenger', 9, 3, None)
    >>> restore(snapshot(slot, progress), "classification",
    ...         ModelDeployment("tree", "hoeffding", {"grace_period": 50}, role="champion"))
    Traceback (most recent call last):
    ...
    learning.progress.StateMismatch: checkpoint of tree is of another build of the model
    """
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise StateMismatch("unknown checkpoint state format")
    slot = state["slot"]
    if not isinstance(slot, ModelSlot) or fingerprint(slot.task, slot.deployment) != fingerprint(
            task, m):
        raise StateMismatch(f"checkpoint of {m.name} is of another build of the model")
    slot.deployment = m  # the role may have changed since (a promotion keeps the state)
    return slot, ModelProgress(**state["progress"])


def replay_from(progresses: Iterable[ModelProgress], processed_through: int) -> int:
    """The training offset after which a partition must be replayed to rebuild every model
    whose state is not in a checkpoint: one before the earliest unsaved record, or
    `processed_through` when everything is saved.

    >>> replay_from([ModelProgress(first_unsaved=40), ModelProgress()], 99)
    39
    >>> replay_from([ModelProgress()], 99)
    99
    """
    needs = [p.first_unsaved - 1 for p in progresses if p.first_unsaved is not None]
    return min(needs, default=processed_through)
