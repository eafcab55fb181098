"""A single-node Apache Kafka broker (KRaft) for tests, the demo and benchmarks: no Docker."""

from .broker import BrokerConfig, LocalKafka, resolve_jars, wait_until_ready

__all__ = ["BrokerConfig", "LocalKafka", "resolve_jars", "wait_until_ready"]
