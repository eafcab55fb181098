"""The models of one tenant in one pool, kept in step with the tenant's deployment."""

from __future__ import annotations

from dataclasses import dataclass

from learning.deployment import Deployment
from learning.slot import LearnError, ModelSlot, Scored

__all__ = ["Changes", "TenantModels"]


@dataclass(frozen=True)
class Changes:
    """What a `TenantModels.sync` did, by model name."""

    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.replaced or self.removed)


class TenantModels:
    """The `ModelSlot`s of one tenant's models deployed to `pool`, in deployment order.

    Parameters
    ----------
    deployment
        The tenant's deployment.
    pool
        The pool this process serves; models of other pools are not built here.

    Examples
    --------
    >>> from learning.deployment import default_deployment
    >>> models = TenantModels(default_deployment(), "fast")
    >>> list(models.slots)
    ['logreg', 'baseline']
    >>> for name, scored in [(slot.name, s) for slot, s in models.score_all({"a": 1.0})]:
    ...     print(name, scored.output, scored.error)
    logreg False None
    baseline None None
    >>> models.learn_all({"a": 1.0}, True)
    {'logreg': 1.0, 'baseline': None}
    >>> models.sync(default_deployment(), "fast")
    Changes(added=(), replaced=(), removed=())

    """

    def __init__(self, deployment: Deployment, pool: str):
        self.deployment: Deployment | None = None
        self.pool = pool
        self.slots: dict[str, ModelSlot] = {}
        self.sync(deployment, pool)

    def sync(self, deployment: Deployment, pool: str) -> Changes:
        """Bring the slots in line with `deployment`.

        New models are built, a model whose spec, params or version changed is rebuilt,
        retired ones are dropped, and the others keep their learned state (a promotion only
        changes the role).

        """
        current = self.deployment
        if (
            current is not None
            and current.version == deployment.version
            and current.task == deployment.task
            and pool == self.pool
        ):
            # The deployment rides on every record: the common case must cost nothing.
            return Changes()

        added, replaced, removed = [], [], []
        wanted = {m.name: m for m in deployment.in_pool(pool)}
        slots = {}
        for name, m in wanted.items():
            old = self.slots.get(name)
            if old is None:
                slots[name] = ModelSlot(m, deployment.task)
                added.append(name)
            elif (
                (old.deployment.spec, old.deployment.params, old.version)
                != (m.spec, m.params, m.version)
                or old.task != deployment.task
            ):
                slots[name] = ModelSlot(m, deployment.task)
                replaced.append(name)
            else:
                old.deployment = m
                slots[name] = old
        removed = [name for name in self.slots if name not in wanted]

        self.slots = slots
        self.deployment = deployment
        self.pool = pool
        return Changes(tuple(added), tuple(replaced), tuple(removed))

    def score_all(self, x: dict) -> list[tuple[ModelSlot, Scored]]:
        """Every model's answer; a failing model yields an error `Scored` and the rest go on."""
        return [(slot, slot.score(x)) for slot in self.slots.values()]

    def learn_all(self, x: dict, y) -> dict[str, float | None]:
        """Teach every model `(x, y)`; returns each model's progressive error.

        A model whose `learn_one` raised is left out of the result (see its
        `last_learn_error`) so that the others still learn.

        """
        errors = {}
        for name, slot in self.slots.items():
            try:
                errors[name] = slot.learn(x, y)
            except LearnError:
                continue
        return errors
