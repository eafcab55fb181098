"""The Faust apps of Rendezvous. ``faust -A app worker`` builds the app from RENDEZVOUS_* settings.

``app`` is built on first access, so that importing ``app.settings`` (tests, tools) has no
side effect and reads no environment.
"""

from .factory import create_app
from .settings import Settings, SettingsError

__all__ = ["create_app", "Settings", "SettingsError", "app"]


def __getattr__(name: str):
    if name == "app":
        built = globals()["app"] = create_app(Settings.from_env())
        from . import commands  # noqa: F401  CLI commands register on the app

        commands.attach(built)
        return built
    raise AttributeError(name)
