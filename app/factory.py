"""``create_app(settings)``: the Faust app of one role (serving, or a model pool)."""

from __future__ import annotations

import faust

from schemas import Limits

from .runtime import Runtime
from .settings import Settings
from .topics import define_topics
from . import partition_watch, views


def create_app(settings: Settings) -> faust.App:
    settings.data_path.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the leaf
    app = faust.App(
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
