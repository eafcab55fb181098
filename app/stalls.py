"""Which of a worker's partitions have records waiting but have stopped moving.

Faust and aiokafka recover from broker outages and restarts on their own, but partitions
have been seen to stop silently after them (records fetched and never processed, or left
paused): their requests were never answered and nothing said so. A record a stream skipped
(a stale generation after a rebalance) leaves a hole below records processed after it, which
holds the commit (app.strict_commits) while the partition goes on moving. These are the
checks that turn such a stall or hole into a log line, a metric and a re-read
(app.partition_watch).
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


@dataclass
class HoleDetector:
    """Flags a partition whose commit is held below records already acknowledged: the
    record at the committed offset was never processed, and never will be unless re-read.

    One look is not enough: a commit in flight has already taken its offsets off the
    acknowledged list but not yet moved the committed offset. The same hole at the same
    committed offset on two looks is a hole.

    Examples
    --------
    >>> d = HoleDetector()
    >>> d.observe("events/1", committed=5, lowest_acked=7)
    False
    >>> d.observe("events/1", committed=5, lowest_acked=9)
    True
    >>> d.observe("events/1", committed=5, lowest_acked=5)  # re-read, processed in order
    False

    """

    # partition -> committed offset a hole was last seen at
    _seen: dict = field(default_factory=dict, repr=False)

    def observe(self, tp: Hashable, committed: int | None, lowest_acked: int | None) -> bool:
        """Record one look at ``tp``; True when it has a hole below processed records."""
        if committed is None or lowest_acked is None or lowest_acked <= committed:
            self._seen.pop(tp, None)
            return False
        if self._seen.get(tp) != committed:
            self._seen[tp] = committed
            return False
        del self._seen[tp]
        return True

    def forget(self, keep: set) -> None:
        """Drop partitions no longer held (after a rebalance)."""
        for tp in set(self._seen) - keep:
            del self._seen[tp]
