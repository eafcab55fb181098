"""Errors shared by the deployment description and the model zoo."""

from __future__ import annotations

__all__ = ["DeploymentError"]


class DeploymentError(ValueError):
    """A deployment, or a model spec within it, that can't be served.

    It lives apart from `deployment` so that the zoo can raise it without a circular import.

    """
