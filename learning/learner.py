"""What a model pool knows of one tenant, and the steps that change it: learning a training
record, replaying one, scoring an enriched record.

Model state changes only on ``training`` records (learning, deployment changes, rollbacks),
in partition order, so it is a function of the training prefix: recovery restores the last
verified checkpoint of each model and replays the training records after it, learning only,
and gets the state a run without the crash would have. Scoring reads that state; a
deployment that reaches scoring before training (a deploy, while labels lag) is scored by a
preview: the trained slots it keeps, fresh ones for the models it adds or rebuilds, which
is exactly what training will build when the deployment reaches it.

Nothing here reads or writes Kafka: a step returns `Effects`, what the pool's agents must
publish, checkpoint or fetch. A drift response's retraining window and a rollback's
checkpoint are fetched by the agents and fed back (`feed_retrain`, `rollback`); the step is
then taken again, and goes on from where it stopped.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from learning.deployment import Deployment
from learning.drift import DriftConfig, DriftMonitor
from learning.enrichment import model_input
from learning.progress import ModelProgress, StateMismatch, fingerprint, restore, snapshot
from learning.slot import LearnError, ModelSlot
from learning.tenant_models import TenantModels
from schemas.records import DriftEvent

__all__ = ["LEARNED_MEMORY", "SCORED_MEMORY", "Effects", "ModelScore", "Retrain", "Rollback",
           "TenantLearner"]

SCORED_MEMORY = 100_000  # far more than can be in flight between enrich and learn
# The requests learnt last. A training record is re-sent when the serving worker dies after
# sending it but before its pending-table write reached the changelog: the event is
# redelivered and its label emitted again, at another offset. Such copies follow within
# seconds, far inside this window, and are not learnt twice.
LEARNED_MEMORY = 100_000


@dataclass(frozen=True)
class Retrain:
    """A model a drift response rebuilt must first learn the tenant's records at offsets
    ``start`` up to ``end`` (exclusive: the record that brought the rebuild)."""

    model: str
    start: int
    end: int


@dataclass(frozen=True)
class Rollback:
    """The deployment asks for `model` to be restored to its checkpoint `version`."""

    model: str
    version: int


@dataclass(frozen=True)
class ModelScore:
    """One model's answer to a request, before learning anything of it."""

    model: str
    version: int
    role: str
    output: object
    proba: float | None
    error: str | None
    latency_ms: float


@dataclass
class Effects:
    """What a step asks of the plumbing.

    Parameters
    ----------
    retrains, rollbacks
        Fetch these and feed them back (`TenantLearner.feed_retrain`, `end_retrain`,
        `rollback`), then take the step again: nothing else was done yet. Retrains come
        first, alone.
    scores
        The record's scores, taken before it was learnt (its enriched record was overtaken).
    detections
        Drift found on this record.
    learnt
        The models that learnt the record.
    duplicate
        The record is a copy of a request already learnt: nothing learnt it.
    checkpoints
        Models due for an every-n checkpoint.
    stats
        The tenant's models as /stats/ shows them (live steps only).

    """

    retrains: tuple[Retrain, ...] = ()
    rollbacks: tuple[Rollback, ...] = ()
    scores: list[ModelScore] = field(default_factory=list)
    detections: list[DriftEvent] = field(default_factory=list)
    learnt: tuple[str, ...] = ()
    duplicate: bool = False
    checkpoints: tuple[str, ...] = ()
    stats: dict | None = None

    @property
    def fetch(self) -> bool:
        """Whether the plumbing must fetch something and take the step again."""
        return bool(self.retrains or self.rollbacks)


class TenantLearner:
    """One tenant's models in one pool, their progress, memories and drift detectors.

    Parameters
    ----------
    tenant, pool
        Whose models, and the pool this process serves (other pools' models are not built).
    every_n
        A model is due for a checkpoint after learning this many records since its last one.
    drift
        How the tenant's drift detectors are fed.
    parse
        A record's deployment (a JSON object) -> `Deployment` (the pool caches parses).
    clock, wallclock
        Monotonic time (when a model was last saved), and the time put on scores.
    on_unsaved
        ``on_unsaved(model, progress)`` whenever a model learns its first record since its
        last checkpoint (the pool indexes the partition's replay watermark with it).

    Examples
    --------
    Four labelled requests, the third sent twice (a model due for a checkpoint stays due
until the plumbing reports it `saved`); then a request is scored:

    >>> import random
    >>> from types import SimpleNamespace as R
    >>> from learning.deployment import default_deployment
    >>> rng = random.Random(3)
    >>> d = default_deployment().to_dict()
    >>> def enriched(i):
    ...     return R(tenant="acme", request_id=f"r{i}", deployment=d, state={}, aggregates={},
    ...              context={}, features={"a": rng.uniform(-1, 1)})
    >>> learner = TenantLearner("acme", "fast", every_n=3)
    >>> for offset, i in enumerate([0, 1, 2, 2, 3]):
    ...     e = enriched(i)
    ...     fx = learner.learn(R(tenant="acme", request_id=e.request_id, enriched=e,
    ...                          label=e.features["a"] > 0), offset)
    ...     print(offset, len(fx.scores), fx.learnt, fx.duplicate, fx.checkpoints)
    0 2 ('logreg', 'baseline') False ()
    1 2 ('logreg', 'baseline') False ()
    2 2 ('logreg', 'baseline') False ('logreg', 'baseline')
    3 0 () True ()
    4 2 ('logreg', 'baseline') False ('logreg', 'baseline')
    >>> [(s.model, s.output) for s in learner.score(enriched(9))]
    [('logreg', False), ('baseline', False)]
    >>> {name: (p.offset, p.predictions) for name, (_, p) in learner.progress.items()}
    {'logreg': (4, 4), 'baseline': (4, 4)}

    """

    def __init__(self, tenant: str, pool: str, *, every_n: int,
                 drift: DriftConfig | None = None,
                 parse: Callable[[dict], Deployment] = Deployment.from_dict,
                 clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], float] = time.time,
                 on_unsaved: Callable[[str, ModelProgress], None] | None = None) -> None:
        self.tenant = tenant
        self.pool = pool
        self.every_n = every_n
        self.drift_config = drift or DriftConfig()
        self.parse = parse
        self.clock = clock
        self.wallclock = wallclock
        self.on_unsaved = on_unsaved or (lambda name, progress: None)
        self.models: TenantModels | None = None  # changed by training records only
        self.progress: dict[str, tuple[ModelSlot, ModelProgress]] = {}
        self.preview: TenantModels | None = None
        self.pending: dict[str, tuple[dict, dict]] = {}  # restores due during a replay
        self.scored: OrderedDict = OrderedDict()
        self.learned: OrderedDict = OrderedDict()
        self.drift: DriftMonitor | None = None
        self.saved_at: dict[str, float] = {}

    # --- the steps ------------------------------------------------------------------------

    def learn(self, training, offset: int) -> Effects:
        """A live training record: score it first if its enriched record was not (a label
        never reaches a score), learn it, say which models are due for a checkpoint."""
        effects = self._prepare(training, offset)
        if effects.fetch:
            return effects
        enriched = training.enriched
        if effects.learnt and enriched.request_id not in self.scored:
            effects.scores = self._score(enriched, self.models)
        self._learn(training, offset, effects.learnt)
        effects.detections = self._watch_drift(training, offset, effects.learnt)
        effects.checkpoints = tuple(name for name in effects.learnt
                                    if self.progress[name][1].unsaved >= self.every_n)
        effects.stats = self.stats()
        return effects

    def replay(self, training, offset: int) -> Effects:
        """A training record already processed before a crash or rebalance: learn only
        (its scores were sent then); the detectors see it too (serving dedupes alarms)."""
        effects = self._prepare(training, offset)
        if effects.fetch:
            return effects
        _remember(self.scored, training.request_id, SCORED_MEMORY)
        self._learn(training, offset, effects.learnt)
        effects.detections = self._watch_drift(training, offset, effects.learnt)
        return effects

    def models_for(self, deployment: Deployment) -> TenantModels:
        """The models that score a request made under `deployment`: the trained ones, or a
        preview of a deployment that training has not reached yet."""
        trained = self.models
        if trained is not None and deployment.version <= trained.deployment.version:
            return trained
        preview = self.preview
        if preview is None or preview.deployment.version != deployment.version:
            preview = self.preview = TenantModels(deployment, self.pool)
            for name, slot in (trained.slots.items() if trained else ()):
                fresh = preview.slots.get(name)
                if fresh is not None and fingerprint(fresh.task, fresh.deployment) == fingerprint(
                        slot.task, slot.deployment):
                    preview.slots[name] = slot
        return preview

    def score(self, enriched) -> list[ModelScore]:
        """Every model of the tenant in this pool scores the request, once: nothing for a
        request already scored (redelivered, or its training record overtook it)."""
        models = self.models_for(self.parse(enriched.deployment))
        if not models.slots or enriched.request_id in self.scored:
            return []
        return self._score(enriched, models)

    # --- what the plumbing feeds back -----------------------------------------------------

    def feed_retrain(self, request: Retrain, offset: int, training) -> None:
        """One record of the retraining window (records of other tenants are skipped)."""
        if training.tenant != self.tenant:
            return
        slot, progress = self.progress[request.model]
        try:
            slot.learn(_input(training.enriched), training.label)
        except LearnError:
            return
        self._advance(request.model, progress, offset, training.request_id,
                      slot.last_prediction)

    def end_retrain(self, request: Retrain) -> None:
        """The window is learnt: the model goes on from the record that asked for it."""
        self.progress[request.model][1].offset = request.end - 1

    def rollback(self, request: Rollback, found: tuple[dict, dict] | None) -> bool:
        """Install the checkpoint ``(meta, state)`` the deployment names, keeping the model's
        position (it learns from the next record on); False if there is none of the model's
        build. Recorded as applied either way: a missing version must not stall learning."""
        slot, current = self.progress[request.model]
        marker = [slot.deployment.restore_version, slot.deployment.restore_token]
        if found is None or not self._install(request.model, *found):
            current.restore = marker
            return False
        progress = self.progress[request.model][1]
        progress.offset = current.offset
        progress.restore = marker
        return True

    def add_pending(self, name: str, meta: dict, state: dict) -> None:
        """A verified checkpoint found by recovery, installed when the replay passes it."""
        self.pending[name] = (meta, state)

    def install_pending(self) -> int:
        """After a replay: restore what no replayed record reached. A tenant with no replayed
        record gets the models of the newest deployment its checkpoints were taken under."""
        if not self.pending:
            return 0
        if self.models is None:
            newest = max((s["deployment"] for _, s in self.pending.values()),
                         key=lambda d: d["version"])
            self.models = TenantModels(Deployment.from_dict(newest), self.pool)
            self._tracks()
        installed = sum(self._install(name, meta, state)
                        for name, (meta, state) in list(self.pending.items()))
        self.pending.clear()
        return installed

    # --- checkpoints ----------------------------------------------------------------------

    def unsaved(self) -> list[str]:
        """The models learnt since their last checkpoint (the others need none)."""
        return [name for name, (_, p) in self.progress.items() if p.unsaved]

    def checkpoint_state(self, name: str) -> dict:
        """What a checkpoint of `name` holds now."""
        slot, progress = self.progress[name]
        return {**snapshot(slot, progress), "deployment": self.models.deployment.to_dict()}

    def saved(self, name: str, progress: ModelProgress, version: int, offset: int,
              unsaved: int) -> None:
        """`progress` was saved as `version` when it stood at `offset` with `unsaved` records
        unsaved; it may have learnt more while the bytes were being written."""
        if progress.offset == offset:
            progress.saved(version)
        else:
            progress.version = version
            progress.first_unsaved = offset + 1
            progress.unsaved -= unsaved
            self.on_unsaved(name, progress)
        self.saved_at[name] = self.clock()

    def is_tracked(self, name: str, progress: ModelProgress) -> bool:
        track = self.progress.get(name)
        return track is not None and track[1] is progress

    def stats(self) -> dict | None:
        """The tenant's models as /stats/ shows them; None before any training record."""
        if self.models is None:
            return None
        return {name: {**slot.metrics(), "version": slot.version, "role": slot.role,
                       **(self.progress[name][1].public() if name in self.progress else {})}
                for name, slot in self.models.slots.items()}

    # --- inside a step --------------------------------------------------------------------

    def _prepare(self, training, offset: int) -> Effects:
        """Bring the models to this record's deployment, install restores due here, ask for
        retrains and rollbacks; then which models learn it (none for a copy of a request
        already learnt)."""
        deployment = self.parse(training.enriched.deployment)
        if self.models is None:
            self.models = TenantModels(deployment, self.pool)
        elif deployment.version > self.models.deployment.version:
            # Only forwards: a delayed label carries the deployment of its request's time.
            self.models.sync(deployment, self.pool)
        tracks = self._tracks()
        for name, (meta, state) in list(self.pending.items()):
            if offset > meta["training_offset"]:
                self._install(name, meta, state)
        retrains = tuple(Retrain(name, slot.deployment.retrain_from, offset)
                         for name, (slot, p) in tracks.items()
                         if slot.deployment.retrain_from is not None and p.offset < 0
                         and slot.deployment.retrain_from < offset)
        if retrains:
            return Effects(retrains=retrains)
        rollbacks = tuple(Rollback(name, m.restore_version)
                          for name, m in ((n, s.deployment) for n, s in self.models.slots.items())
                          if m.restore_version is not None
                          and tracks[name][1].restore != [m.restore_version, m.restore_token])
        if rollbacks:
            return Effects(rollbacks=rollbacks)
        # Fed in stream order, live and in replay alike, so a recovered pool skips the same
        # copies a pool that never stopped skipped (unless the first copy lies before the
        # replay's start: then the copy is learnt, the one case where they differ).
        if training.request_id in self.learned:
            return Effects(duplicate=True)
        _remember(self.learned, training.request_id, LEARNED_MEMORY)
        return Effects(learnt=tuple(name for name, (_, p) in tracks.items() if offset > p.offset))

    def _tracks(self) -> dict:
        tracks = self.progress
        for name in [n for n in tracks if n not in self.models.slots]:
            del tracks[name]
        for name, slot in self.models.slots.items():
            if name not in tracks or tracks[name][0] is not slot:  # new or rebuilt
                tracks[name] = (slot, ModelProgress())
                self.saved_at[name] = self.clock()
        return tracks

    def _score(self, enriched, models: TenantModels) -> list[ModelScore]:
        _remember(self.scored, enriched.request_id, SCORED_MEMORY)
        return [ModelScore(slot.name, slot.version, slot.role, s.output, s.proba, s.error,
                           s.latency_ms)
                for slot, s in models.score_all(_input(enriched))]

    def _learn(self, training, offset: int, learners: tuple[str, ...]) -> None:
        if not learners:
            return
        x = _input(training.enriched)
        if len(learners) == len(self.models.slots):
            self.models.learn_all(x, training.label)  # the usual case: every model learns it
        else:  # after a recovery, the models whose checkpoint is ahead skip it
            for name in learners:
                try:
                    self.progress[name][0].learn(x, training.label)
                except LearnError:
                    pass  # counted by the slot; the record is still behind this model
        for name in learners:
            slot, progress = self.progress[name]
            self._advance(name, progress, offset, training.request_id, slot.last_prediction)

    def _advance(self, name: str, progress: ModelProgress, offset: int, request_id: str,
                 prediction) -> None:
        first = progress.first_unsaved
        progress.advance(offset, request_id, prediction)
        if first is None:  # its first record since its last checkpoint
            self.on_unsaved(name, progress)

    def _watch_drift(self, training, offset: int, learners: tuple[str, ...]) -> list[DriftEvent]:
        models = self.models
        # A model that did not learn this record has a stale last prediction.
        if not learners or len(learners) != len(models.slots):
            return []
        if self.drift is None or self.drift.task != models.deployment.task:
            self.drift = DriftMonitor(self.tenant, models.deployment.task, self.drift_config,
                                      self.wallclock)
        # Raw features: rolling aggregates and injected state drift by construction.
        return self.drift.observe_models(offset, training.enriched.features, training.label,
                                         models)

    def _install(self, name: str, meta: dict, state: dict) -> bool:
        """Put a restored state in place of the model's slot, if it is of the same build."""
        self.pending.pop(name, None)
        slot = self.models.slots.get(name)
        if slot is None:
            return False
        try:
            restored, progress = restore(state, self.models.deployment.task, slot.deployment)
        except StateMismatch:
            return False
        self.models.slots[name] = restored
        self.progress[name] = (restored, progress)
        self.saved_at[name] = self.clock()
        return True


def _remember(seen: OrderedDict, request_id: str, size: int) -> None:
    seen[request_id] = None
    if len(seen) > size:
        seen.popitem(last=False)


def _input(enriched) -> dict:
    """What every model of the tenant sees: the event's features and the injected state."""
    return model_input(enriched.features, enriched.state, enriched.aggregates, enriched.context)
