"""drift: drift -> the ops page's drift records, and the tenant's drift response.

Pools detect drift (`learning.drift.DriftMonitor`) and publish `DriftEvent`s keyed by tenant.
The serving worker that owns the tenant records each one (ops page, API, metrics) and applies
the tenant's `ResponsePolicy` through `learning.drift_response.Responder`: alert, reset the
champion, roll back (a decision record for the checkpoint store), or promote the best
challenger after an evaluation over the next labelled requests. A deployment change is
written to the deployments table like a control command (history and probation included),
and every response is an event on ``drift-responses`` saying what changed and why. A
detection is answered once per tenant (the ledger lives in the drift-responses table), and a
response applies only to the deployment version it was decided against.

While an evaluation is open for a tenant, two small agents feed it from ``scores`` and
``training``; other tenants' records are skipped by key, without decoding.
"""

from __future__ import annotations

import time

import orjson

from learning.deployment import Deployment, DeploymentError
from learning.drift_response import (Response, ResponsePolicy, Responder, apply_response,
                                     policies_from)
from schemas import DriftEvent, InvalidRecord, Score, Training, decode, to_plain

from .deployments import UnknownTenant
from .intake import intake


def current(rt, tenant: str) -> Deployment | None:
    try:
        return rt.deployments.resolve(tenant)
    except UnknownTenant:
        return None


async def apply(rt, current: Deployment, new: Deployment, response: Response) -> None:
    tenant = response.tenant
    applied = apply_response(current, response, new)
    if applied is not current:
        rt.tables.deployments[tenant] = applied.to_dict()
        rt.control.remember(tenant, current, "initial", "-", time.time())
        rt.control.remember(tenant, applied, f"drift-{response.action}", response.key,
                            time.time())
        if response.action == "promote":
            rt.control.start_probation(tenant, current, applied)
    rt.stats.event(tenant, f"drift-{response.action}", reason=response.reason,
                   key=response.key, version=applied.version)
    rt.stats.count(f"drift_responses.{response.action}", tenant)
    await rt.topics.drift_responses.send(key=tenant.encode(),
                                         value=orjson.dumps(response.to_dict()))


async def conclude(rt, responder: Responder, tenant: str) -> None:
    deployment = current(rt, tenant)
    concluded = responder.conclude(tenant, deployment)
    if concluded is not None:
        await apply(rt, deployment, *concluded)


def attach(rt, policies: dict[str, ResponsePolicy] | None = None) -> None:
    responder = rt.drift_responses = Responder(
        policies_from(rt.settings.drift_responses) if policies is None else policies,
        rt.tables.drift_responses)

    @rt.app.agent(rt.topics.drift, name="record_drift")
    async def record_drift(stream):
        async for _, drift in intake(rt, stream, DriftEvent, stage="drift"):
            rt.stats.drift_event(drift.tenant, to_plain(drift))
            rt.stats.count("drift_events", drift.tenant)
            rt.metrics.drift_events.labels(drift.signal.split(":", 1)[0]).inc()

    @rt.app.agent(rt.topics.drift, name="respond_to_drift")
    async def respond_to_drift(stream):
        async for message, drift in intake(rt, stream, DriftEvent, stage="drift-response"):
            deployment = current(rt, drift.tenant)
            if deployment is None:
                continue
            try:
                decided = responder.decide(deployment, drift)
                if decided is None:
                    rt.stats.count("drift_replayed", drift.tenant)
                    continue
                await apply(rt, deployment, *decided)
            except DeploymentError as exc:
                await rt.dead_letter(message, exc, stage="drift-response")

    def evaluating(event) -> bool:
        key = event.message.key
        return bool(responder.evaluations) and key is not None and \
            key.decode("utf-8", "replace") in responder.evaluations

    @rt.app.agent(rt.topics.scores, name="drift_evaluation_scores")
    async def drift_evaluation_scores(stream):
        async for event in stream.events():
            if not evaluating(event):
                continue
            try:
                score = decode(Score, event.message.value, rt.limits)
            except InvalidRecord:
                continue  # the rendezvous dead-letters it
            if score.error is None and responder.on_output(score.tenant, score.request_id,
                                                           score.model, score.output):
                await conclude(rt, responder, score.tenant)

    @rt.app.agent(rt.topics.training, name="drift_evaluation_training")
    async def drift_evaluation_training(stream):
        async for event in stream.events():
            if not evaluating(event):
                continue
            try:
                training = decode(Training, event.message.value, rt.limits)
            except InvalidRecord:
                continue  # the pools dead-letter it
            if responder.on_label(training.tenant, training.request_id, training.label):
                await conclude(rt, responder, training.tenant)
