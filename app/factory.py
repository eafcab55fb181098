"""``create_app(settings)``: the Faust app of one role (serving, or a model pool)."""

from __future__ import annotations

import faust

from schemas import Limits

from .runtime import Runtime
from .settings import Settings
from .strict_commits import consumer_class
from .topics import COMPACTED, define_topics
from . import partition_watch, views


class RendezvousApp(faust.App):
    """A Faust app whose consumer never commits past a record no agent processed
    (app.strict_commits)."""

    compacted_topics: frozenset = frozenset()

    def _new_consumer(self):
        transport = self.transport
        return consumer_class(transport.Consumer, self.compacted_topics)(
            transport, callback=self.topics.on_message, loop=self.loop,
            on_partitions_revoked=self._on_partitions_revoked,
            on_partitions_assigned=self._on_partitions_assigned,
            beacon=self.beacon)


def create_app(settings: Settings) -> faust.App:
    settings.data_path.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the leaf
    app = RendezvousApp(
        settings.app_id,
        broker=settings.broker,
        store=settings.store,
        datadir=str(settings.data_path),
        topic_partitions=settings.partitions,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        # Requests must be served from the start of the topic when a group is new.
        consumer_auto_offset_reset="earliest",
        # Standby copies would share the table stores with active partitions; the deadline
        # timer only scans what this worker owns, and recovery reads the changelog.
        table_standby_replicas=0,
        producer_linger=settings.producer_linger_ms / 1000.0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        autodiscover=False,
    )
    app.compacted_topics = frozenset(settings.topic(name) for name in COMPACTED)
    rt = Runtime(
        app=app, settings=settings, topics=define_topics(app, settings),
        limits=Limits(max_payload_bytes=settings.max_payload_bytes,
                      max_features=settings.max_features,
                      max_string_len=settings.max_string_len),
    )
    if settings.is_serving:
        from agents import serving

        serving.attach(rt)
    else:
        from agents import pool

        pool.attach(rt)
    views.attach(rt)
    partition_watch.attach(rt)
    app.rendezvous = rt
    return app
