"""Which of a worker's partitions have records waiting but have stopped moving.

Faust and aiokafka recover from broker outages and restarts on their own, but partitions
have been seen to stop silently after them (records fetched and never processed, or left
paused): their requests were never answered and nothing said so. This is the check that
turns such a stall into a log line, a metric and a re-read (app.partition_watch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable


@dataclass
class StallDetector:
    """Flags a partition whose committed offset and fetch position have both stood still for
    ``after_s`` seconds while its end offset was ahead of them.

    Both must stand still: a slow agent behind a full buffer stops fetching but still commits,
    and a partition being fetched but not processed still moves its position. A flagged
    partition is re-armed, so it is flagged again after another ``after_s`` if it stays stuck.

    Parameters
    ----------
    after_s
        Seconds without progress, with records waiting, before a partition counts as stalled.

    Examples
    --------
    >>> d = StallDetector(after_s=30)
    >>> d.observe(0.0, "events/1", committed=5, position=9, end=12)
    False
    >>> d.observe(29.0, "events/1", committed=5, position=9, end=12)
    False
    >>> d.observe(30.0, "events/1", committed=5, position=9, end=12)
    True
    >>> d.observe(31.0, "events/1", committed=5, position=9, end=12)  # re-armed
    False
    >>> d.observe(40.0, "events/1", committed=12, position=12, end=12)  # caught up
    False

    """

    after_s: float
    # partition -> (committed, position, when they were last seen to move)
    _last: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.after_s > 0:
            raise ValueError(f"after_s must be positive, got {self.after_s!r}")

    def observe(self, now: float, tp: Hashable, committed: int | None, position: int | None,
                end: int) -> bool:
        """Record one look at ``tp``; True when it is stalled now."""
        done = committed if committed is not None else position
        if done is None or done >= end:
            self._last.pop(tp, None)
            return False
        seen = (committed, position)
        last = self._last.get(tp)
        if last is None or last[:2] != seen:
            self._last[tp] = (*seen, now)
            return False
        if now - last[2] < self.after_s:
            return False
        self._last[tp] = (*seen, now)
        return True

    def forget(self, keep: set) -> None:
        """Drop partitions no longer held (after a rebalance)."""
        for tp in set(self._last) - keep:
            del self._last[tp]
