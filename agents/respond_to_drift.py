"""respond_to_drift: drift -> the tenant's drift response, applied to its deployment.

Pools detect drift (`learning.drift.DriftMonitor`) and publish `DriftEvent`s keyed by tenant;
the serving worker that owns the tenant applies the tenant's `ResponsePolicy`
(`learning.drift_response`): alert, reset the champion, roll back (a decision record for the
checkpoint store), or promote the best challenger after an evaluation over the next labelled
requests. The deployment change is written to the deployments table like a control command
(history and probation included when the control state is attached), and every response is
an event on ``drift-responses`` saying what changed and why.

Policies: ``rt.drift_policies`` (tenant -> ResponsePolicy, "*" for every other tenant),
defaulting to ``settings.drift_responses`` (a JSON object of policy dicts) when that setting
exists, else "alert" for everyone. Idempotent: a detection is answered once per tenant
(`Ledger`, in ``rt.tables.drift_responses`` when that table exists, else in memory), and a
response applies only to the deployment version it was decided against.

A promotion evaluation needs each model's output and the label of the same requests: while
an evaluation is open for a tenant, two small agents feed it from ``scores`` and
``training``; other tenants' records are skipped by key, without decoding.
"""

from __future__ import annotations

import time

import orjson

from learning.deployment import Deployment, DeploymentError
from learning.drift import Detection
from learning.drift_response import (Evaluation, Ledger, Response, ResponsePolicy,
                                     apply_response, conclude, handle)
from schemas import DriftEvent, InvalidRecord, Score, Training, decode

from .deployments import UnknownTenant
from .intake import intake


class DriftResponses:
    """The serving worker's drift responses: policies, ledger, open evaluations."""

    def __init__(self, rt, policies: dict[str, ResponsePolicy] | None = None) -> None:
        self.rt = rt
        if policies is None:
            raw = getattr(rt.settings, "drift_responses", None) or {}
            if isinstance(raw, str):
                raw = orjson.loads(raw) if raw.strip() else {}
            policies = {t: ResponsePolicy.from_dict(p) for t, p in raw.items()}
        self.policies = policies
        store = getattr(rt.tables, "drift_responses", None)
        self.ledger = Ledger(store if store is not None else {})
        self.evaluations: dict[str, tuple[Evaluation, Response]] = {}
        self.sent: list[Response] = []  # for tests and /stats; bounded below

    def policy(self, tenant: str) -> ResponsePolicy:
        return self.policies.get(tenant) or self.policies.get("*") or ResponsePolicy()

    def current(self, tenant: str) -> Deployment | None:
        try:
            return self.rt.deployments.resolve(tenant)
        except UnknownTenant:
            return None

    async def on_drift(self, drift: DriftEvent) -> Response | None:
        current = self.current(drift.tenant)
        if current is None:
            return None
        detection = Detection(drift.tenant, drift.model, drift.signal, drift.training_offset,
                              drift.n_before, drift.n_after, drift.mean_before,
                              drift.mean_after, drift.position, drift.window_start)
        policy = self.policy(drift.tenant)
        handled = handle(current, detection, policy, self.ledger)
        if handled is None:
            self.rt.stats.count("drift_replayed", drift.tenant)
            return None
        new, response = handled
        await self.apply(current, new, response)
        # A second alarm while an evaluation is open keeps the open one running.
        if response.action == "evaluate" and drift.tenant not in self.evaluations:
            opened = response.changes["evaluate"]
            self.evaluations[drift.tenant] = (Evaluation(
                response.key, current.task, opened["champion"], tuple(opened["challengers"]),
                policy.window), response)
        return response

    async def apply(self, current: Deployment, new: Deployment, response: Response) -> None:
        rt = self.rt
        tenant = response.tenant
        applied = apply_response(current, response, new)
        if applied is not current:
            rt.tables.deployments[tenant] = applied.to_dict()
            control = getattr(rt, "control", None)
            if control is not None:
                command = f"drift-{response.action}"
                control.remember(tenant, current, "initial", "-", time.time())
                control.remember(tenant, applied, command, response.key, time.time())
                if response.action == "promote":
                    control.start_probation(tenant, current, applied)
        rt.stats.event(tenant, f"drift-{response.action}", reason=response.reason,
                       key=response.key, version=applied.version)
        rt.stats.count(f"drift_responses.{response.action}", tenant)
        self.sent.append(response)
        del self.sent[:-100]
        topic = getattr(rt.topics, "drift_responses", None)
        if topic is not None:
            await topic.send(key=tenant.encode(), value=orjson.dumps(response.to_dict()))

    async def maybe_conclude(self, tenant: str) -> None:
        opened = self.evaluations.get(tenant)
        if opened is None or not opened[0].done:
            return
        evaluation, response = self.evaluations.pop(tenant)
        current = self.current(tenant)
        if current is None:
            return
        new, concluded = conclude(current, response, evaluation, self.policy(tenant))
        await self.apply(current, new, concluded)

    async def on_score(self, score: Score) -> None:
        opened = self.evaluations.get(score.tenant)
        if opened is not None and score.error is None:
            opened[0].on_output(score.request_id, score.model, score.output)
            await self.maybe_conclude(score.tenant)

    async def on_training(self, training: Training) -> None:
        opened = self.evaluations.get(training.tenant)
        if opened is not None:
            opened[0].on_label(training.request_id, training.label)
            await self.maybe_conclude(training.tenant)


def attach(rt, policies: dict[str, ResponsePolicy] | None = None) -> None:
    state = rt.drift_responses = DriftResponses(rt, policies)

    @rt.app.agent(rt.topics.drift, name="respond_to_drift")
    async def respond_to_drift(stream):
        async for message, drift in intake(rt, stream, DriftEvent, stage="drift-response"):
            try:
                await state.on_drift(drift)
            except DeploymentError as exc:
                await rt.dead_letter(message, exc, stage="drift-response")

    def evaluating(event) -> bool:
        key = event.message.key
        return bool(state.evaluations) and key is not None and \
            key.decode("utf-8", "replace") in state.evaluations

    @rt.app.agent(rt.topics.scores, name="drift_evaluation_scores")
    async def drift_evaluation_scores(stream):
        async for event in stream.events():
            if not evaluating(event):
                continue
            try:
                score = decode(Score, event.message.value, rt.limits)
            except InvalidRecord:
                continue  # collect_score dead-letters it
            await state.on_score(score)

    @rt.app.agent(rt.topics.training, name="drift_evaluation_training")
    async def drift_evaluation_training(stream):
        async for event in stream.events():
            if not evaluating(event):
                continue
            try:
                training = decode(Training, event.message.value, rt.limits)
            except InvalidRecord:
                continue  # the pools dead-letter it
            await state.on_training(training)
