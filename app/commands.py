"""CLI commands: ``faust -A app <command>``."""

from __future__ import annotations

import faust

from .topics import declare_topics


def attach(app: faust.App) -> None:
    rt = app.rendezvous

    @app.command()
    async def create_topics(self) -> None:
        """Create this environment's topics (idempotent)."""
        created = await declare_topics(rt.settings)
        print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))
