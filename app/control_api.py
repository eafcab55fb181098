"""The control and read API of the serving worker, JSON over HTTP on its web server.

Mutations (POST/PUT) need ``Authorization: Bearer <RENDEZVOUS_API_TOKEN>`` (401 otherwise;
constant-time comparison) and are *produced to the control topic*, never applied here:
the topic is the one ordering of a tenant's commands, whichever worker, CLI or producer
issued them, and the changelog of the deployments table makes every serving worker agree.
When this worker owns the tenant's partition, the command is first dry-run against the
tenant's current deployment (400 with the reason, nothing produced, if invalid) and the
response waits until the agent applied it (200 with the new deployment; 409 if a command
that came first made it invalid). Otherwise only its shape is checked and the answer is
202: the owning worker applies or rejects it (GET .../events there says which).

Reads are open: tenants, models, versions, metrics, recent drift events, decisions, events.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid

import orjson
from aiokafka.partitioner import DefaultPartitioner
from faust.web import Request, Response, View

from learning.control import COMMANDS, CommandError
from learning.deployment import DeploymentError
from schemas import ControlCommand, InvalidRecord, decode

from .runtime import Runtime

API_WAIT_S = 15.0  # how long a mutation waits for its command to be applied here
MAX_LIMIT = 500

_partitioner = DefaultPartitioner()


def authorized(headers, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    scheme, _, given = (headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode())


def tenant_partition(tenant: str, partitions: int) -> int:
    """The partition of a tenant's records, as the producer's default partitioner puts them."""
    everything = list(range(partitions))
    return _partitioner(tenant.encode(), everything, everything)


# --- the read model -------------------------------------------------------------------------

class Reads:
    """JSON-safe views of what this serving worker knows, for the API and the ops page."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def tenants(self) -> list[str]:
        rt = self.rt
        known = set(rt.stats.tenants)
        known.update(rt.tables.deployments.data.keys())
        known.update(rt.deployments._static)
        return sorted(known)

    def busiest(self, limit: int, prefix: str = "") -> list[str]:
        counts = self.rt.stats.tenants
        names = [t for t in self.tenants() if t.startswith(prefix)]
        names.sort(key=lambda t: (-counts[t]["requests"] if t in counts else 0, t))
        return names[:limit]

    def deployment(self, tenant: str):
        return self.rt.control.current(tenant)

    def summary(self, tenant: str) -> dict:
        d = self.deployment(tenant)
        counts = self.rt.stats.tenants.get(tenant, {})
        served = self.rt.stats.served.get(tenant)
        return {
            "tenant": tenant,
            "task": d.task if d else None,
            "version": d.version if d else None,
            "champion": d.champion.name if d else None,
            "models": len(d.models) if d else 0,
            "requests": counts.get("requests", 0),
            "results": counts.get("results", 0),
            "fallbacks": sum(n for k, n in counts.items() if k.startswith("results.fallback")),
            "defaults": counts.get("results.default", 0),
            "served": {"n": served.n, "accuracy": served.correct / served.n}
            if served and served.n else {"n": 0, "accuracy": None},
        }

    def models(self, tenant: str) -> list[dict]:
        d = self.deployment(tenant)
        if d is None:
            return []
        served = self.rt.stats.served.get(tenant)
        scored = self.rt.stats.scored.get(tenant, {})
        servable = d.servable()
        rows = []
        for m in d.models:
            n, correct = served.by_model.get(m.name, (0, 0)) if served else (0, 0)
            s_n, s_err = scored.get((m.name, m.version), (0, 0))
            rows.append({
                **m.to_dict(),
                "fallback_position": servable.index(m.name) if m.name in servable else None,
                "served": {"n": n, "correct": correct, "accuracy": correct / n if n else None},
                "scores": {"n": s_n, "errors": s_err},
            })
        return rows

    def detail(self, tenant: str) -> dict:
        stats = self.rt.stats
        served = stats.served.get(tenant)
        return {
            **self.summary(tenant),
            "deployment": d.to_dict() if (d := self.deployment(tenant)) else None,
            "model_rows": self.models(tenant),
            "series": [list(p) for p in served.series] if served else [],
            "drift": list(stats.drift.get(tenant, ())),
            "decisions": list(stats.decisions.get(tenant, ()))[::-1],
            "events": list(stats.events.get(tenant, ()))[::-1],
            "versions": self.versions(tenant),
        }

    def versions(self, tenant: str) -> list[dict]:
        return self.rt.control.versions(tenant)

    def known(self, tenant: str) -> bool:
        return tenant in self.rt.stats.tenants or self.deployment(tenant) is not None and (
            tenant in self.rt.tables.deployments.data or tenant in self.rt.deployments._static)

    def metrics(self) -> dict:
        stats = self.rt.stats
        return {
            "counts": dict(stats.counts),
            "tenants": len(stats.tenants),
            "pending": sum(e.closed_at is None for e in self.rt.tables.pending.data.values() if e),
            "served": {t: {"n": s.n, "accuracy": s.correct / s.n if s.n else None}
                       for t, s in stats.served.items()},
        }


# --- the web views ----------------------------------------------------------------------------
# Module-level views: each takes the runtime from its app (``app.rendezvous``).

def respond(view: View, request: Request, body, status: int = 200) -> Response:
    view.app.rendezvous.metrics.api_requests.labels(request.method, str(status)).inc()
    return view.bytes(orjson.dumps(body, default=str), status=status,
                      content_type="application/json")


def error(view: View, request: Request, status: int, reason: str, **extra) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="rendezvous"'} if status == 401 else None
    view.app.rendezvous.metrics.api_requests.labels(request.method, str(status)).inc()
    return view.bytes(orjson.dumps({"error": reason, **extra}, default=str), status=status,
                      content_type="application/json", headers=headers)


def limit_of(request: Request, default: int = 50) -> int:
    try:
        return max(1, min(MAX_LIMIT, int(request.query.get("limit", default))))
    except ValueError:
        return default


def owns(rt: Runtime, tenant: str) -> bool:
    """Whether this worker holds the tenant's control partition (it applies the command)."""
    partition = tenant_partition(tenant, rt.settings.partitions)
    name = rt.topics.control.get_topic_name()
    return any(tp.topic == name and tp.partition == partition
               for tp in rt.app.assignor.assigned_actives())


async def authorized_body(view: View, request: Request):
    """(JSON body, None) for an authorized request, else (None, the 401/400 response)."""
    rt = view.app.rendezvous
    if not authorized(request.headers, rt.settings.api_token):
        return None, error(view, request, 401, "missing or wrong bearer token")
    raw = await view.read_request_content(request)
    if len(raw) > rt.settings.max_payload_bytes:
        return None, error(view, request, 400,
                           f"body larger than {rt.settings.max_payload_bytes} bytes")
    if not raw.strip():
        return {}, None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, error(view, request, 400, f"body is not JSON: {exc}")
    if not isinstance(body, dict):
        return None, error(view, request, 400, "body must be a JSON object")
    return body, None


async def submit(view: View, request: Request, tenant: str, command: str, args,
                 command_id=None) -> Response:
    """Produce a command to the control topic; wait for it here when this worker applies it."""
    rt = view.app.rendezvous
    record = {"tenant": tenant, "command": command, "args": args,
              "command_id": command_id or f"api-{uuid.uuid4().hex[:16]}",
              "issued_at": time.time()}
    try:
        body = orjson.dumps(record)
        cmd = decode(ControlCommand, body, rt.limits)
    except (InvalidRecord, TypeError) as exc:
        return error(view, request, 400, str(exc))
    local = owns(rt, tenant)
    if local:
        try:
            rt.control.dry_run(tenant, cmd.command, dict(cmd.args))
        except (CommandError, DeploymentError) as exc:
            return error(view, request, 400, str(exc), command=command)
    waiter = asyncio.get_running_loop().create_future()
    if local:
        rt.control.waiters[cmd.command_id] = waiter
    await rt.topics.control.send(key=tenant.encode(), value=body)
    accepted = {"status": "accepted", "command_id": cmd.command_id,
                "detail": "produced to the control topic; the serving worker owning "
                          "the tenant applies it"}
    if not local:
        return respond(view, request, accepted, 202)
    try:
        outcome = await asyncio.wait_for(asyncio.shield(waiter), API_WAIT_S)
    except asyncio.TimeoutError:
        rt.control.waiters.pop(cmd.command_id, None)
        return respond(view, request, accepted, 202)
    if outcome["status"] == "rejected":
        return error(view, request, 409, outcome["reason"], command_id=cmd.command_id)
    return respond(view, request, {"status": "applied", "command_id": cmd.command_id,
                                   "deployment": outcome["deployment"]})


class Commands(View):
    """Any command: {"command": "promote", "args": {...}, "command_id": optional}."""

    async def post(self, request: Request, tenant: str) -> Response:
        body, refused = await authorized_body(self, request)
        if refused is not None:
            return refused
        command = body.get("command")
        if command not in COMMANDS:
            return error(self, request, 400, f"command must be one of {', '.join(COMMANDS)}, "
                                             f"got {command!r}")
        unknown = sorted(set(body) - {"command", "args", "command_id"})
        if unknown:
            return error(self, request, 400, f"unknown field {unknown[0]!r}")
        return await submit(self, request, tenant, command, body.get("args", {}),
                            body.get("command_id"))


class CommandView(View):
    """One command; the body is its args (plus an optional command_id)."""

    command = ""

    async def _mutate(self, request: Request, tenant: str) -> Response:
        body, refused = await authorized_body(self, request)
        if refused is not None:
            return refused
        command_id = body.pop("command_id", None)
        return await submit(self, request, tenant, self.command, body, command_id)


class Deploy(CommandView):
    command = "deploy"
    post = CommandView._mutate


class Promote(CommandView):
    command = "promote"
    post = CommandView._mutate


class Retire(CommandView):
    command = "retire"
    post = CommandView._mutate


class Rollback(CommandView):
    command = "rollback"
    post = CommandView._mutate


class SetPolicy(CommandView):
    command = "set-policy"
    put = CommandView._mutate


class Auth(View):
    """200 when the bearer token is right: the ops page checks a token with it."""

    async def get(self, request: Request) -> Response:
        if not authorized(request.headers, self.app.rendezvous.settings.api_token):
            return error(self, request, 401, "missing or wrong bearer token")
        return respond(self, request, {"ok": True})


class Tenants(View):
    async def get(self, request: Request) -> Response:
        reads = Reads(self.app.rendezvous)
        names = reads.busiest(limit_of(request, MAX_LIMIT), request.query.get("prefix", ""))
        return respond(self, request, {"total": len(reads.tenants()),
                                       "tenants": [reads.summary(t) for t in names]})


class TenantView(View):
    """A read about one known tenant (404 otherwise)."""

    def read(self, reads: Reads, tenant: str):
        raise NotImplementedError

    async def get(self, request: Request, tenant: str) -> Response:
        reads = Reads(self.app.rendezvous)
        if not reads.known(tenant):
            return error(self, request, 404, f"unknown tenant {tenant!r}")
        return respond(self, request, self.read(reads, tenant))


class Tenant(TenantView):
    def read(self, reads, tenant):
        return reads.detail(tenant)


class TenantModels(TenantView):
    def read(self, reads, tenant):
        return {"tenant": tenant, "models": reads.models(tenant)}


class TenantVersions(TenantView):
    def read(self, reads, tenant):
        return {"tenant": tenant, "versions": reads.versions(tenant)}


class TenantDecisions(TenantView):
    def read(self, reads, tenant):
        return {"tenant": tenant,
                "decisions": list(reads.rt.stats.decisions.get(tenant, ()))[::-1]}


class TenantDrift(TenantView):
    def read(self, reads, tenant):
        return {"tenant": tenant, "drift": list(reads.rt.stats.drift.get(tenant, ()))[::-1]}


class TenantEvents(TenantView):
    def read(self, reads, tenant):
        return {"tenant": tenant, "events": list(reads.rt.stats.events.get(tenant, ()))[::-1]}


class RecentView(View):
    """The latest items of one ring across tenants (?limit=)."""

    key = ""

    def ring(self, stats):
        raise NotImplementedError

    async def get(self, request: Request) -> Response:
        items = list(self.ring(self.app.rendezvous.stats))[::-1][:limit_of(request)]
        return respond(self, request, {self.key: items})


class RecentDrift(RecentView):
    key = "drift"

    def ring(self, stats):
        return stats.recent_drift


class RecentDecisions(RecentView):
    key = "decisions"

    def ring(self, stats):
        return stats.recent_decisions


class RecentEvents(RecentView):
    key = "events"

    def ring(self, stats):
        return stats.recent_events


class MetricsView(View):
    async def get(self, request: Request) -> Response:
        return respond(self, request, Reads(self.app.rendezvous).metrics())


class Overview(View):
    """Everything the ops page draws, for the busiest tenants (?limit=, ?prefix=)."""

    async def get(self, request: Request) -> Response:
        rt = self.app.rendezvous
        reads = Reads(rt)
        names = reads.busiest(limit_of(request, 24), request.query.get("prefix", ""))
        return respond(self, request, {
            "role": rt.settings.role, "env": rt.settings.env, "at": time.time(),
            "total_tenants": len(reads.tenants()),
            "tenants": [reads.detail(t) for t in names],
            "events": list(rt.stats.recent_events)[::-1][:20]})


ROUTES = (
    ("/api/tenants/{tenant}/commands", "api-commands", Commands),
    ("/api/tenants/{tenant}/deploy", "api-deploy", Deploy),
    ("/api/tenants/{tenant}/promote", "api-promote", Promote),
    ("/api/tenants/{tenant}/retire", "api-retire", Retire),
    ("/api/tenants/{tenant}/rollback", "api-rollback", Rollback),
    ("/api/tenants/{tenant}/policy", "api-set-policy", SetPolicy),
    ("/api/auth", "api-auth", Auth),
    ("/api/tenants", "api-tenants", Tenants),
    ("/api/tenants/{tenant}", "api-tenant", Tenant),
    ("/api/tenants/{tenant}/models", "api-models", TenantModels),
    ("/api/tenants/{tenant}/versions", "api-versions", TenantVersions),
    ("/api/tenants/{tenant}/decisions", "api-tenant-decisions", TenantDecisions),
    ("/api/tenants/{tenant}/drift", "api-tenant-drift", TenantDrift),
    ("/api/tenants/{tenant}/events", "api-tenant-events", TenantEvents),
    ("/api/drift", "api-drift", RecentDrift),
    ("/api/decisions", "api-decisions", RecentDecisions),
    ("/api/events", "api-events", RecentEvents),
    ("/api/metrics", "api-metrics", MetricsView),
    ("/api/overview", "api-overview", Overview),
)


def attach(rt: Runtime) -> None:
    for path, name, view in ROUTES:
        # A subclass per app: faust stores the route's name and path on the class.
        rt.app.page(path, name=name)(type(view.__name__, (view,), {}))
