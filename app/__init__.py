"""The Faust apps of Rendezvous. ``faust -A app worker`` builds the app from RENDEZVOUS_* settings.

``app`` is built on first access, so that importing ``app.settings`` (tests, tools) has no
side effect and reads no environment.
"""

import sys

from .factory import create_app
from .settings import Settings, SettingsError

__all__ = ["create_app", "Settings", "SettingsError", "app"]


def __getattr__(name: str):
    if name == "app":
        settings = Settings.from_env()
        if "worker" in sys.argv[1:]:  # CLI commands and --help must not wait for a broker
            _declare_topics_or_warn(settings)
        built = globals()["app"] = create_app(settings)
        from . import commands, staging_commands  # CLI commands register on the app

        commands.attach(built)
        staging_commands.attach(built)
        return built
    raise AttributeError(name)


def _declare_topics_or_warn(settings: Settings) -> None:
    """Create missing topics before the worker subscribes (see topics.changelog_names)."""
    import asyncio
    import logging

    from .topics import declare_topics

    try:
        asyncio.run(asyncio.wait_for(declare_topics(settings), timeout=60))
    except Exception as exc:  # the worker itself will wait for the broker and report
        logging.getLogger(__name__).warning("could not declare topics: %r", exc)
