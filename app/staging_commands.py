"""``faust -A app replay`` and ``faust -A app compare``: feed staging, then compare it with prod."""

from __future__ import annotations

import functools
import os
import sys

import click
import faust
import orjson
from faust.cli import option

from learning.compare import compare as compare_envs, format_report

from .replay import SOURCES, Bound, _read, replay as replay_topics
from .settings import Settings


async def read_records(settings: Settings, base: str) -> list[dict]:
    records = []
    async for message, _ in _read(settings, settings.topic(base), None, None, False):
        try:
            records.append(orjson.loads(message.value))
        except orjson.JSONDecodeError:
            continue
    return records


async def compare_report(settings: Settings, other_env: str) -> dict:
    other = settings.with_(env=other_env)
    labels = {(t["tenant"], t["request_id"]): t["label"]
              for t in await read_records(settings, "training")}
    return compare_envs(await read_records(settings, "results"),
                        await read_records(other, "results"),
                        await read_records(settings, "scores"),
                        await read_records(other, "scores"), labels)


def fails_loudly(command):
    """Faust logs an async command's exception and exits 0; a script must see it fail."""

    @functools.wraps(command)
    async def run(self, *args, **kwargs):
        try:
            return await command(self, *args, **kwargs)
        except Exception as exc:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            os._exit(1)  # SystemExit would be caught by the worker that runs the command

    return run


def attach(app: faust.App) -> None:
    settings: Settings = app.rendezvous.settings

    @app.command(
        option("--source", type=click.Choice(SOURCES), required=True,
               help="decoy-log (exact inputs, labels from training) or events (re-enriched)."),
        option("--since", default=None, help="Offset, epoch seconds or ISO-8601 UTC time."),
        option("--until", default=None, help="Offset, epoch seconds or ISO-8601 UTC time."),
        option("--tenant", "tenants", multiple=True, help="Only these tenants (repeatable)."),
        option("--target-env", default="staging", show_default=True),
    )
    @fails_loudly
    async def replay(self, source, since, until, tenants, target_env):
        """Copy records of this environment into another environment's events topic."""
        report = await replay_topics(settings, source, target_env, Bound.parse(since),
                                     Bound.parse(until), tuple(tenants))
        print(f"replayed {report.copied} records into {target_env} "
              f"({report.skipped} skipped): {orjson.dumps(report.per_tenant).decode()}")

    @app.command(
        option("--env", "other_env", default="staging", show_default=True,
               help="The environment to compare with this one."),
        option("--json-out", default=None, help="Also write the report as JSON to this file."),
    )
    @fails_loudly
    async def compare(self, other_env, json_out):
        """Per tenant and model: this environment's results and accuracy vs another's."""
        report = await compare_report(settings, other_env)
        print(format_report(report))
        if json_out:
            with open(json_out, "wb") as f:
                f.write(orjson.dumps(report, option=orjson.OPT_INDENT_2))
