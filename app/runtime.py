"""What the agents of one app share: settings, topics, tables, metrics and the dead-letter path."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import faust

from learning.rendezvous import ServedAnswers
from schemas import DeadLetter, Limits, dead_letter_for, dead_letter_headers, encode

from .metrics import Metrics
from .settings import Settings
from .stats import Stats
from .topics import Topics


@dataclass
class Runtime:
    app: faust.App
    settings: Settings
    topics: Topics
    limits: Limits
    metrics: Metrics = field(default_factory=Metrics)
    stats: Stats = field(default_factory=Stats)
    tables: Any = None  # ServingTables on the serving app
    pool: Any = None  # PoolState on a model pool
    deployments: Any = None  # DeploymentResolver on the serving app
    deadlines: Any = None  # DeadlineQueue on the serving app
    control: Any = None  # ControlState on the serving app
    drift_responses: Any = None  # Responder on the serving app
    # Serving: open slots as parsed, with the scores collected so far. The pending table
    # keeps each slot as opened (for recovery); scores are not written back per score, a
    # request recovered after a crash waits for new scores or its deadline.
    slots: dict = field(default_factory=dict)
    # Serving: answers served before their delayed label came (served accuracy only).
    served_answers: ServedAnswers = field(default_factory=ServedAnswers)
    # This process, among all that ever ran this app: the serving app marks the requests it
    # opens with it (and the consumer generation), and looks up on `results` the open
    # requests it recovered from others or from before a rebalance.
    incarnation: str = field(default_factory=lambda: uuid.uuid4().hex)

    async def dead_letter(self, message: faust.types.Message, error: BaseException,
                          stage: str) -> DeadLetter:
        """Park a record that cannot be processed, with its origin, and move on."""
        record = dead_letter_for(message.topic, message.partition, message.offset,
                                 message.key, message.value, error, stage, time.time())
        await self.topics.dead_letter.send(
            key=message.key, value=encode(record), headers=dead_letter_headers(record))
        self.metrics.dead_letters.labels(stage, record.error_class).inc()
        self.stats.count("dead_letters")
        self.stats.count(f"dead_letters.{stage}")
        return record
