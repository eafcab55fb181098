"""collect_score: scores -> results. The rendezvous: the first answer the policy accepts wins."""

from __future__ import annotations

import time

from learning.policy import Pending, ScoreView, on_score
from schemas import InvalidRecord, Score, decode
from tables.writes import request_key

from .results import close_request


def attach(rt) -> None:
    tables = rt.tables

    @rt.app.agent(rt.topics.scores, name="collect_score")
    async def collect_score(stream):
        async for event in stream.events():
            try:
                score = decode(Score, event.message.value, rt.limits)
            except InvalidRecord as exc:
                await rt.dead_letter(event.message, exc, stage="rendezvous")
                continue
            control = getattr(rt, "control", None)
            if control is not None:  # ops tallies and the probation of new models (issue 6)
                await control.on_score(score)
            rkey = request_key(score.tenant, score.request_id)
            entry = tables.pending.get(rkey)
            if entry is None or "closed_at" in entry:
                rt.metrics.late_scores.inc()
                rt.stats.count("late_scores", score.tenant)
                continue
            now = time.time()
            slot = rt.slots.get(rkey) or Pending.from_dict(entry["slot"])
            view = ScoreView(model=score.model, version=score.version, role=score.role,
                             output=score.output, error=score.error)
            updated, decision = on_score(slot, view, now)
            if decision is not None:
                await close_request(rt, rkey, entry, updated, decision, now)
            else:
                rt.slots[rkey] = updated
