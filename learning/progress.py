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
import heapq
import itertools
from dataclasses import asdict, dataclass
from typing import Callable, Hashable, Iterable

import orjson

from learning.deployment import ModelDeployment
from learning.slot import ModelSlot

__all__ = ["ZERO_DIGEST", "ModelProgress", "chain", "fingerprint", "snapshot", "restore",
           "replay_from", "UnsavedIndex", "StateMismatch"]

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
    return min((p.first_unsaved - 1 for p in progresses if p.first_unsaved is not None),
               default=processed_through)


class UnsavedIndex:
    """`replay_from` of a changing set of models, kept as they learn and are saved, so that
    a sweep checkpointing every model of a partition costs O(models log models), not
    O(models^2) as a scan per checkpoint would.

    A heap of ``(first_unsaved, key, progress)`` entries, one `note`d whenever a model's
    ``first_unsaved`` is set (it learnt its first record since its last checkpoint). An entry
    is stale once its model was saved (``first_unsaved`` changed) or is no longer the one
    tracked under its key (``is_live(key, progress)`` false: rebuilt, restored, removed);
    stale entries are dropped when they reach the top, and the heap is compacted when they
    outnumber the live ones, so its size stays O(models).

    >>> a, b = ModelProgress(), ModelProgress()
    >>> index = UnsavedIndex()
    >>> for offset, p in [(3, a), (4, b), (5, a)]:
    ...     was = p.first_unsaved
    ...     p.advance(offset, f"r{offset}", True)
    ...     if was is None:
    ...         index.note("a" if p is a else "b", p)
    >>> index.replay_from(5), replay_from([a, b], 5)
    (2, 2)
    >>> a.saved(1)
    >>> index.replay_from(5), replay_from([a, b], 5)
    (3, 3)
    >>> b.saved(1)
    >>> index.replay_from(5), len(index)
    (5, 0)
    """

    COMPACT_MIN = 1024

    def __init__(self, is_live: Callable[[Hashable, ModelProgress], bool] | None = None):
        self._is_live = is_live or (lambda key, progress: True)
        self._heap: list = []
        self._seq = itertools.count()  # ties: entries never compare their progress
        self._compact_at = self.COMPACT_MIN

    def __len__(self) -> int:
        return len(self._heap)

    def note(self, key: Hashable, progress: ModelProgress) -> None:
        """`progress` (tracked under `key`) has a new ``first_unsaved``."""
        if progress.first_unsaved is None:
            return
        heapq.heappush(self._heap, (progress.first_unsaved, next(self._seq), key, progress))
        if len(self._heap) > self._compact_at:
            self._heap = [e for e in self._heap if self._live(e)]
            heapq.heapify(self._heap)
            self._compact_at = max(self.COMPACT_MIN, 2 * len(self._heap))

    def _live(self, entry) -> bool:
        first, _, key, progress = entry
        return progress.first_unsaved == first and self._is_live(key, progress)

    def replay_from(self, processed_through: int) -> int:
        """What `replay_from` of every live model gives; amortised O(log models)."""
        heap = self._heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] - 1 if heap else processed_through
