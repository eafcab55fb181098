"""`python -m localkafka up|down|status|wipe`: the local broker behind `make kafka-up`."""

import sys

import click

from .broker import BrokerConfig, LocalKafka


@click.group()
def main() -> None:
    """Run a one-node Apache Kafka (KRaft) on 127.0.0.1 (LOCAL_KAFKA_PORT, LOCAL_KAFKA_DIR)."""


@main.command()
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for metadata.")
def up(timeout: float) -> None:
    """Start the broker (fetching jars on first use) and wait until it answers."""
    kafka = LocalKafka(BrokerConfig.from_env())
    seconds = kafka.start(timeout)
    click.echo(f"Kafka ready in {seconds:.1f}s, data in {kafka.config.data_dir}")
    click.echo(f"KAFKA_BOOTSTRAP={kafka.bootstrap}")


@main.command()
def down() -> None:
    """Stop the broker started from this data directory; no JVM is left behind."""
    kafka = LocalKafka(BrokerConfig.from_env())
    click.echo("Kafka stopped" if kafka.stop() else "Kafka was not running")


@main.command()
def status() -> None:
    """Exit 0 if the broker of this data directory runs."""
    kafka = LocalKafka(BrokerConfig.from_env())
    pid = kafka.pid()
    click.echo(f"running, pid {pid}, {kafka.bootstrap}" if pid else "not running")
    sys.exit(0 if pid else 1)


@main.command()
def wipe() -> None:
    """Stop the broker and delete its data directory."""
    LocalKafka(BrokerConfig.from_env()).wipe()


if __name__ == "__main__":
    main()
