"""Resolve Apache Kafka's jars from Maven Central and run them as a one-node KRaft broker.

The broker is a plain JVM child process whose pid is kept in its data directory, so that
`make kafka-down` (or a test fixture) stops exactly the broker it started and nothing else.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POM = REPO / "ops" / "kafka" / "pom.xml"
LOG4J = REPO / "ops" / "kafka" / "log4j.properties"
KAFKA_VERSION = "3.9.1"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rendezvous" / f"kafka-{KAFKA_VERSION}"


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how the local broker runs.

    Parameters
    ----------
    port
        Client listener on 127.0.0.1; the KRaft controller listens on ``port + 1``
        (``LOCAL_KAFKA_PORT``).
    data_dir
        Log directories, pid file, rendered server.properties and server.log
        (``LOCAL_KAFKA_DIR``, default ``var/kafka-<port>`` in the repository).
    cache_dir
        Jar cache, outside the work tree so that clean clones reuse it
        (``LOCAL_KAFKA_CACHE``, default ``~/.cache/rendezvous/kafka-<version>``).
    heap
        JVM heap; 1 GiB is plenty for a test broker on a 2-core box (``LOCAL_KAFKA_HEAP``).
    """

    port: int = 19092
    data_dir: Path = field(default=REPO / "var" / "kafka-19092")
    cache_dir: Path = field(default_factory=_default_cache)
    heap: str = "1g"

    @classmethod
    def from_env(cls) -> "BrokerConfig":
        port = int(os.environ.get("LOCAL_KAFKA_PORT", "19092"))
        data_dir = Path(os.environ.get("LOCAL_KAFKA_DIR", REPO / "var" / f"kafka-{port}"))
        cache = Path(os.environ.get("LOCAL_KAFKA_CACHE", _default_cache()))
        return cls(port=port, data_dir=data_dir, cache_dir=cache,
                   heap=os.environ.get("LOCAL_KAFKA_HEAP", "1g"))

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def resolve_jars(cache_dir: Path) -> Path:
    """Copy the broker's jars into ``cache_dir/libs`` with Maven, once; return that folder."""
    libs = cache_dir / "libs"
    done = libs / ".complete"
    if done.exists():
        return libs
    if shutil.which("mvn") is None:
        raise RuntimeError("Maven (mvn) is needed to fetch the Kafka jars: apt-get install maven")
    staging = cache_dir / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={staging}"],
        check=True,
    )
    (staging / ".complete").write_text(KAFKA_VERSION)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def server_properties(config: BrokerConfig) -> str:
    controller = config.port + 1
    logs = config.data_dir / "logs"
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=PLAINTEXT://127.0.0.1:{config.port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{config.port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={logs}",
        # Topics are declared by the apps with the configured partition count; an
        # auto-created topic would silently break co-partitioning.
        "auto.create.topics.enable=false",
        "num.partitions=4",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        # One node: internal topics cannot have more replicas, and few partitions make
        # the first consumer group come up in milliseconds instead of seconds.
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=4",
        "group.initial.rebalance.delay.ms=0",
        "log.retention.hours=168",
        "log.segment.bytes=67108864",
        "message.max.bytes=33554432",
        "replica.fetch.max.bytes=33554432",
        "",
    ])


class LocalKafka:
    """One broker+controller JVM on 127.0.0.1.

    Examples
    --------
    >>> kafka = LocalKafka(BrokerConfig(port=29092))
    >>> kafka.bootstrap
    '127.0.0.1:29092'
    """

    def __init__(self, config: BrokerConfig | None = None):
        self.config = config or BrokerConfig.from_env()

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    @property
    def pid_file(self) -> Path:
        return self.config.data_dir / "broker.pid"

    def pid(self) -> int | None:
        """The pid of this data directory's broker, if that process is alive and is ours."""
        try:
            pid = int(self.pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None
        props = str(self.config.data_dir / "server.properties").encode()
        return pid if b"kafka.Kafka" in cmdline and props in cmdline else None

    def start(self, timeout: float = 90.0) -> float:
        """Start (or find running) and wait until it answers metadata; return seconds taken."""
        began = time.monotonic()
        if self.pid() is not None:
            wait_until_ready(self.bootstrap, timeout)
            return time.monotonic() - began
        libs = resolve_jars(self.config.cache_dir)
        data = self.config.data_dir
        data.mkdir(parents=True, exist_ok=True)
        props = data / "server.properties"
        props.write_text(server_properties(self.config))
        classpath = f"{libs}/*"
        java = shutil.which("java") or "java"
        if not (data / "logs" / "meta.properties").exists():
            subprocess.run(
                [java, "-cp", classpath, f"-Dlog4j.configuration=file:{LOG4J}",
                 f"-Dkafka.logs.dir={data}", "kafka.tools.StorageTool", "format",
                 "-t", str(uuid.uuid4()), "-c", str(props), "--ignore-formatted"],
                check=True, stdout=subprocess.DEVNULL,
            )
        out = open(data / "stdout.log", "ab")
        proc = subprocess.Popen(
            [java, "-Xms256m", f"-Xmx{self.config.heap}", "-XX:+UseG1GC",
             "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true",
             f"-Dlog4j.configuration=file:{LOG4J}", f"-Dkafka.logs.dir={data}",
             "-cp", classpath, "kafka.Kafka", str(props)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the shell that started it must not kill it
        )
        self.pid_file.write_text(str(proc.pid))
        try:
            wait_until_ready(self.bootstrap, timeout, alive=lambda: proc.poll() is None)
        except Exception:
            self.stop()
            raise
        return time.monotonic() - began

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop our broker: SIGTERM (controlled shutdown), SIGKILL after ``timeout``."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def signal(self, sig: int) -> None:
        """Send a signal to our broker (fault drills: SIGSTOP, SIGCONT, SIGKILL)."""
        pid = self.pid()
        if pid is None:
            raise RuntimeError("the broker is not running")
        os.kill(pid, sig)
        if sig == signal.SIGKILL:
            while _alive(pid):
                time.sleep(0.05)
            self.pid_file.unlink(missing_ok=True)

    def wipe(self) -> None:
        """Stop and delete the data directory (a fresh, empty cluster next start)."""
        self.stop()
        shutil.rmtree(self.config.data_dir, ignore_errors=True)

    def __enter__(self) -> "LocalKafka":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child, else a zombie lingers
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.split(") ", 1)[1][:1] != "Z"


def wait_until_ready(bootstrap: str, timeout: float, alive=lambda: True) -> None:
    """Block until the broker answers a metadata request with itself in it."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the Kafka broker exited during start-up; see its server.log")
        try:
            if asyncio.run(_brokers(bootstrap)):
                return
        except Exception as exc:  # not listening yet: connection refused, no metadata
            last = exc
        time.sleep(0.25)
    raise TimeoutError(f"Kafka at {bootstrap} did not answer metadata within {timeout}s: {last!r}")


async def _brokers(bootstrap: str) -> int:
    import logging

    from aiokafka import AIOKafkaClient

    # Refused connections are the expected answer while the broker starts: not errors.
    client_log = logging.getLogger("aiokafka.client")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()
        metadata = await client.fetch_all_metadata()
        return len(metadata.brokers())
    finally:
        await client.close()
        client_log.setLevel(level)
