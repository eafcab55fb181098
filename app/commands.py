"""CLI commands: ``faust -A app <command>``."""

from __future__ import annotations

import hmac
import time
import uuid

import faust
from faust.cli import option

from learning.checkpoint import sign
from schemas import encode

from kafka_io import send_one

from .topics import declare_topics


def attach(app: faust.App) -> None:
    rt = app.rendezvous

    @app.command()
    async def create_topics(self) -> None:
        """Create this environment's topics (idempotent)."""
        created = await declare_topics(rt.settings)
        print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))

    @app.command()
    async def models(self) -> None:
        """List tenants, models, roles, checkpoint versions and metrics (from the checkpoints)."""
        index = await read_checkpoint_store(rt)
        for line in models_table(index, rt.settings.signing_key):
            print(line)

    @app.command(
        option("--tenant", type=str, required=True, help="Tenant of the model."),
        option("--model", type=str, required=True, help="Model name in the deployment."),
        option("--version", "version", type=int, required=True,
               help="Checkpoint version to restore (see `models`)."),
    )
    async def rollback(self, tenant: str, model: str, version: int) -> None:
        """Roll a model back to a checkpoint version: a `rollback` command on `control`."""
        index = await read_checkpoint_store(rt, tenant=tenant)
        meta = index.meta(tenant, model, version)
        if meta is None:
            kept = index.versions(tenant, model)
            raise SystemExit(f"rollback: {tenant}/{model} has no checkpoint v{version} "
                             f"(kept: {', '.join(map(str, kept)) or 'none'})")
        payload = index.payload(tenant, model, version)
        if payload is None or not hmac.compare_digest(
                sign(payload, key=rt.settings.signing_key, tenant=tenant, model=model,
                     version=version), meta["signature"]):
            raise SystemExit(f"rollback: checkpoint {tenant}/{model} v{version} is incomplete "
                             "or not signed by this deployment")
        command = rollback_command(tenant, model, version)
        await send_control(rt, command)
        print(encode(command).decode())


def rollback_command(tenant: str, model: str, version: int, now: float | None = None):
    """The control record of a checkpoint rollback (applied by the serving app's control agent
    through `learning.deployment.with_rollback`)."""
    from schemas import ControlCommand

    return ControlCommand(tenant=tenant, command="rollback",
                          args={"model": model, "version": version},
                          command_id=f"rollback-{uuid.uuid4().hex[:12]}",
                          issued_at=time.time() if now is None else now)


async def send_control(rt, command) -> None:
    await send_one(rt.settings.bootstrap, rt.settings.topic("control"),
                   command.tenant.encode(), encode(command))


async def read_checkpoint_store(rt, tenant: str | None = None):
    """The checkpoint store of every partition (or of `tenant`'s), chunk bytes included."""
    from aiokafka.partitioner import murmur2

    from tables.checkpoints import CheckpointStore
    from learning.checkpoint import StoreIndex

    store = CheckpointStore(rt)
    partitions = range(rt.settings.partitions)
    if tenant is not None:  # the producer's default partitioner: where the tenant's records are
        partitions = [(murmur2(tenant.encode()) & 0x7FFFFFFF) % rt.settings.partitions]
    merged = StoreIndex()
    for p in partitions:
        part = await store.scan(p)
        merged.metas.update(part.metas)
        merged.chunks.update(part.chunks)
        merged.watermarks.update(part.watermarks)
    return merged


def models_table(index, key: str) -> list[str]:
    """One line per (tenant, model): role, model version, kept checkpoint versions, and the
    latest checkpoint's training offset, metrics, size, reason, parent and signature check."""
    rows = [("tenant", "model", "role", "model_v", "checkpoints", "offset", "metrics", "bytes",
             "reason", "parent", "signed")]
    for tenant, model in index.models():
        versions = index.versions(tenant, model)
        meta = index.meta(tenant, model, versions[-1])
        payload = index.payload(tenant, model, versions[-1])
        signed = payload is not None and hmac.compare_digest(
            sign(payload, key=key, tenant=tenant, model=model, version=versions[-1]),
            meta["signature"])
        metrics = " ".join(f"{k}={v:.4g}" for k, v in sorted(meta["metrics"].items()))
        rows.append((tenant, model, str(meta.get("role")), str(meta.get("model_version")),
                     ",".join(map(str, versions)), str(meta["training_offset"]), metrics,
                     str(meta["size_bytes"]), str(meta.get("reason")),
                     str(meta.get("parent_version")), "ok" if signed else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
