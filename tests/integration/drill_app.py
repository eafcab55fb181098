"""The worker app with the drill models ("sleepy", "failing") in its zoo, for integration
tests that deploy them: a production worker refuses such a deployment.

Run as ``faust -A tests.integration.drill_app worker``.
"""

from tests import drills

drills.register()

from app import app  # noqa: E402  (the zoo must hold the drills before the app is built)

__all__ = ["app"]
