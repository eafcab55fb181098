"""Unit tests build the drill models ("sleepy", "failing") like any other spec."""

from tests import drills

drills.register()
