"""Every topic of the flow (DESIGN.md), named per environment and declared with one partition count.

All topics carry raw bytes: ``schemas`` owns the codec, so a record that fails to decode
is still in hand, byte for byte, for its dead-letter record.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from kafka_io import create_missing_topics

from .settings import Settings

# Keyed by tenant and co-partitioned: a tenant's tables, models and pending requests
# live with the same partition number in every app.
TENANT_KEYED = (
    "events", "state-updates", "labels", "control", "enriched", "scores", "results",
    "training", "decoy-log", "drift", "checkpoints",
    "drift-responses",  # what a drift response changed and why, for audit
)
# Keyed by origin; its partitioning carries no state.
UNKEYED = ("dead-letter",)
DAY_MS = 24 * 3600 * 1000
RETENTION_MS = {"decoy-log": 90 * DAY_MS, "training": 90 * DAY_MS, "dead-letter": 30 * DAY_MS}
# Compacted instead of deleted by age: the checkpoint store (learning.checkpoint) keeps the
# last K versions of every model for as long as the model lives, whatever its age. Its
# records live on the tenant's partition but are keyed per (tenant, model, version, chunk),
# so that compaction keeps each one, and tombstones drop expired versions.
COMPACTED = ("checkpoints",)


def topic_configs(base: str) -> dict[str, str]:
    """Broker configs of a topic at creation."""
    if base in COMPACTED:
        return {"cleanup.policy": "compact"}
    return {"retention.ms": str(RETENTION_MS[base])} if base in RETENTION_MS else {}


@dataclass(frozen=True)
class Topics:
    events: faust.TopicT
    state_updates: faust.TopicT
    labels: faust.TopicT
    control: faust.TopicT
    enriched: faust.TopicT
    scores: faust.TopicT
    results: faust.TopicT
    training: faust.TopicT
    decoy_log: faust.TopicT
    drift: faust.TopicT
    checkpoints: faust.TopicT
    drift_responses: faust.TopicT
    dead_letter: faust.TopicT

    def all(self) -> list[faust.TopicT]:
        return list(self.__dict__.values())


def define_topics(app: faust.App, settings: Settings) -> Topics:
    def topic(name: str) -> faust.TopicT:
        retention = RETENTION_MS.get(name)
        return app.topic(
            settings.topic(name),
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
            partitions=settings.partitions,
            retention=retention / 1000 if retention else None,
            compacting=name in COMPACTED or None,
            # internal: Faust declares (creates) it with our partition count on subscribe.
            internal=True,
        )

    return Topics(**{name.replace("-", "_"): topic(name) for name in TENANT_KEYED + UNKEYED})


async def declare_topics(settings: Settings) -> list[str]:
    """Create the environment's topics that are missing (idempotent); return those created.

    Workers declare topics too; calling this first lets producers start before any worker.
    """
    wanted = {settings.topic(base): (settings.partitions, topic_configs(base))
              for base in TENANT_KEYED + UNKEYED}
    wanted.update({name: (settings.partitions, {"cleanup.policy": "compact"})
                   for name in changelog_names(settings)})
    return await create_missing_topics(settings.bootstrap, wanted)


def changelog_names(settings: Settings) -> list[str]:
    """Changelogs of the serving app's tables, named as Faust names them.

    Declared up front: a worker that subscribes before Faust has created them sees zero
    partitions and its agents crash with PartitionsMismatch until restarted.
    """
    from tables.serving import TABLE_NAMES

    serving = settings.with_(role="serving").app_id
    return [f"{serving}-{table}-changelog" for table in TABLE_NAMES]
