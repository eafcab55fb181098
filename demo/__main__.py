"""``python -m demo`` (``make demo``): the whole flow on a laptop.

Starts the local broker (or reuses a running one), declares the ``demo`` topics, starts
three real ``faust -A app worker`` processes (serving, and the model pools ``fast`` and
``heavy``), sends the multi-tenant stream of `demo.generate` at a steady rate, and watches
``demo.results`` and ``demo.dead-letter`` itself, joining every result with the label it
generated: a per-tenant table every few seconds, then, once every request has its answer
(or a bounded wait has passed), the workers are stopped and the last line printed is
``SUMMARY {json}``. Exit code 0 when every request got exactly one result.

Ctrl-C once stops the stream and drains; Ctrl-C again skips the drain. Workers, and the
broker if this command started it, are always stopped.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import statistics
import sys
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import orjson

from .generate import DemoStream, TenantSpec

REPO = Path(__file__).resolve().parent.parent
ENV = "demo"
ROLES = ("serving", "fast", "heavy")
PARTITIONS = 4


def echo(text: str = "") -> None:
    click.echo(text)
    sys.stdout.flush()


class Ledger:
    """What the demo sent and what came back, joined by request id."""

    def __init__(self, stream: DemoStream) -> None:
        self.stream = stream
        self.specs: dict[str, TenantSpec] = {t.name: t for t in stream.specs}
        self.sent: dict[str, tuple[str, bool]] = {}  # request id -> (tenant, after change)
        self.labels: dict[str, bool] = {}
        self.outputs: dict[str, object] = {}
        self.first_reason: dict[str, str] = {}
        self.duplicate_pairs: Counter = Counter()  # "first reason -> duplicate's reason"
        self.duplicate_examples: list[dict] = []
        self.dead_letter_examples: list[dict] = []
        self.sent_by_topic: Counter = Counter()
        self.requests: Counter = Counter()
        self.results: Counter = Counter()
        self.fallbacks: Counter = Counter()
        self.defaults: Counter = Counter()
        self.reasons: Counter = Counter()
        self.models: Counter = Counter()
        self.labelled: Counter = Counter()
        self.correct: Counter = Counter()
        self.answered: Counter = Counter()
        self.answered_correct: Counter = Counter()
        self.phase_labelled: Counter = Counter()  # False: before the change, True: after
        self.phase_correct: Counter = Counter()
        self.window_results: Counter = Counter()
        self.window_labelled: Counter = Counter()
        self.window_correct: Counter = Counter()
        self.latencies: list[float] = []
        self.window_latencies: list[float] = []
        self.duplicates = 0
        self.foreign_results = 0
        self.dead_letters = 0
        self.dead_letter_stages: Counter = Counter()
        self.dead_lettered: set[str] = set()
        self.send_errors = 0
        self.first_sent: float | None = None
        self.last_sent: float | None = None
        self.last_result: float | None = None

    # what was sent
    def on_sent(self, topic: str, value: bytes) -> None:
        now = time.time()
        self.first_sent = self.first_sent or now
        self.last_sent = now
        self.sent_by_topic[topic] += 1
        if topic == "events":
            ev = orjson.loads(value)
            rid = ev["request_id"]
            self.sent[rid] = (ev["tenant"], ev["ts"] >= self.stream.change_ts)
            self.requests[ev["tenant"]] += 1
            if "label" in ev:
                self.on_label(rid, ev["label"])
        elif topic == "labels":
            rec = orjson.loads(value)
            self.on_label(rec["request_id"], rec["label"])

    def on_label(self, rid: str, label: bool) -> None:
        self.labels[rid] = label
        if rid in self.outputs:
            self._score(rid)

    # what came back
    def on_result(self, rec: dict) -> None:
        rid = rec.get("request_id")
        if rid not in self.sent:
            self.foreign_results += 1  # an earlier run's request, or not ours
            return
        if rid in self.outputs:
            self.duplicates += 1
            self.duplicate_pairs[f"{self.first_reason[rid]}->{rec.get('reason')}"] += 1
            if len(self.duplicate_examples) < 50:
                self.duplicate_examples.append(rec)
            return
        tenant = self.sent[rid][0]
        reason = rec.get("reason", "?")
        self.outputs[rid] = rec.get("output")
        self.first_reason[rid] = reason
        self.last_result = time.time()
        self.results[tenant] += 1
        self.window_results[tenant] += 1
        self.reasons[reason] += 1
        self.models[rec.get("model") or "-"] += 1
        if reason.startswith("fallback"):
            self.fallbacks[tenant] += 1
        if reason == "default":
            self.defaults[tenant] += 1
        if isinstance(rec.get("latency_ms"), (int, float)):
            self.latencies.append(float(rec["latency_ms"]))
            self.window_latencies.append(float(rec["latency_ms"]))
        if rid in self.labels:
            self._score(rid)

    def _score(self, rid: str) -> None:
        tenant, changed = self.sent[rid]
        output, label = self.outputs[rid], self.labels[rid]
        right = output is not None and output == label
        self.labelled[tenant] += 1
        self.correct[tenant] += right
        self.window_labelled[tenant] += 1
        self.window_correct[tenant] += right
        self.phase_labelled[changed] += 1
        self.phase_correct[changed] += right
        if output is not None:
            self.answered[tenant] += 1
            self.answered_correct[tenant] += right

    def on_dead_letter(self, rec: dict) -> None:
        self.dead_letters += 1
        if len(self.dead_letter_examples) < 200:
            self.dead_letter_examples.append(rec)
        self.dead_letter_stages[f"{rec.get('stage')}:{rec.get('error_class')}"] += 1
        if str(rec.get("origin_topic", "")).endswith(".events"):
            try:
                rid = orjson.loads(rec["value"]).get("request_id")
            except Exception:
                return
            if rid in self.sent and rid not in self.outputs:
                self.dead_lettered.add(rid)

    def save_examples(self, folder: Path) -> None:
        """Duplicate results and dead letters of this run, for a look at what went wrong."""
        for name, records in (("duplicate-results", self.duplicate_examples),
                              ("dead-letters", self.dead_letter_examples)):
            path = folder / f"{name}.jsonl"
            path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))

    # views
    @property
    def n_requests(self) -> int:
        return len(self.sent)

    @property
    def n_results(self) -> int:
        return len(self.outputs)

    def outstanding(self) -> int:
        return len(self.sent) - len(self.outputs) - len(self.dead_lettered - self.outputs.keys())

    def take_window(self) -> tuple[Counter, Counter, Counter]:
        window = (self.window_results, self.window_labelled, self.window_correct)
        self.window_results, self.window_labelled, self.window_correct = Counter(), Counter(), Counter()
        return window

    def summary(self) -> dict:
        def ratio(a, b):
            return round(a / b, 4) if b else None

        lat = sorted(self.latencies)
        span = ((self.last_result or 0) - (self.first_sent or 0)) if self.first_sent else 0
        send_span = ((self.last_sent or 0) - (self.first_sent or 0)) if self.first_sent else 0
        labelled, correct = sum(self.labelled.values()), sum(self.correct.values())
        answered, answered_correct = sum(self.answered.values()), sum(self.answered_correct.values())
        return {
            "requests": self.n_requests,
            "results": self.n_results,
            "duplicates": self.duplicates,
            "duplicate_reasons": dict(self.duplicate_pairs),
            "missing": self.n_requests - self.n_results,
            "dead_letters": self.dead_letters,
            "dead_lettered_requests": len(self.dead_lettered),
            "dead_letter_stages": dict(self.dead_letter_stages),
            "fallbacks": sum(self.fallbacks.values()),
            "fallback_rate": ratio(sum(self.fallbacks.values()), self.n_results),
            "defaults": sum(self.defaults.values()),
            "reasons": dict(self.reasons),
            **{f"reason_{k}": v for k, v in sorted(self.reasons.items())},
            "models": dict(self.models),
            "labelled": labelled,
            "served_accuracy": ratio(correct, labelled),
            "answered_accuracy": ratio(answered_correct, answered),
            "accuracy_before_change": ratio(self.phase_correct[False], self.phase_labelled[False]),
            "accuracy_after_change": ratio(self.phase_correct[True], self.phase_labelled[True]),
            "throughput_eps": round(self.n_results / span, 1) if span > 0 else 0.0,
            "send_rate_eps": round(self.sent_by_topic["events"] / send_span, 1) if send_span > 0 else 0.0,
            "latency_ms": {"p50": round(lat[len(lat) // 2], 2), "p99": round(lat[int(len(lat) * 0.99)], 2),
                           "mean": round(statistics.fmean(lat), 2), "max": round(lat[-1], 2)}
            if lat else None,
            "sent": dict(self.sent_by_topic),
            "send_errors": self.send_errors,
            "foreign_results": self.foreign_results,
            "per_tenant": {
                t: {"requests": self.requests[t], "results": self.results[t],
                    "accuracy": ratio(self.correct[t], self.labelled[t]),
                    "fallbacks": self.fallbacks[t], "defaults": self.defaults[t]}
                for t in self.specs},
        }

    def table(self, elapsed: float, interval: float) -> str:
        results, labelled, correct = self.take_window()
        lat, self.window_latencies = sorted(self.window_latencies), []
        latency = f"{lat[len(lat) // 2]:.0f} ms" if lat else "-"
        pending = self.n_requests - self.n_results
        total_l, total_c = sum(self.labelled.values()), sum(self.correct.values())
        w_l, w_c = sum(labelled.values()), sum(correct.values())

        def pct(c, n):
            return f"{100 * c / n:5.1f}%" if n else "    - "

        phase = "after" if time.time() >= self.stream.change_ts else "before"
        lines = [
            f"[{elapsed:6.1f}s] sent {self.n_requests} requests, results {self.n_results} "
            f"({sum(results.values()) / interval:.0f}/s, median latency {latency}), outstanding {pending}, "
            f"fallbacks {sum(self.fallbacks.values())}, defaults {sum(self.defaults.values())}, "
            f"dead letters {self.dead_letters}, duplicates {self.duplicates}, "
            f"served accuracy {pct(total_c, total_l).strip()} (last {interval:.0f}s "
            f"{pct(w_c, w_l).strip()}), concept: {phase} the change",
            f"  {'tenant':<10} {'labels':<7} {'concept':<19} {'sent':>6} {'results':>7} "
            f"{'res/s':>6} {'acc':>6} {'acc(5s)':>7} {'fallbk':>6} {'default':>7}",
        ]
        for name, spec in self.specs.items():
            concept = f"{spec.concept(False)}->{spec.concept(True).split(':')[1]}"
            lines.append(
                f"  {name:<10} {spec.labels:<7} {concept:<19} {self.requests[name]:>6} "
                f"{self.results[name]:>7} {results[name] / interval:>6.1f} "
                f"{pct(self.correct[name], self.labelled[name])} "
                f"{pct(correct[name], labelled[name]):>7} "
                f"{self.fallbacks[name]:>6} {self.defaults[name]:>7}")
        return "\n".join(lines)


async def session(bootstrap: str, stream: DemoStream, workers: list, report_every: float,
                  drain_timeout: float, env: str = ENV) -> tuple[dict, bool]:
    """Send the stream, watch results and dead letters; return (summary, interrupted)."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from kafka_io import topic_partitions

    loop = asyncio.get_running_loop()
    ledger = Ledger(stream)
    stop_sending, abort = asyncio.Event(), asyncio.Event()
    interrupted = [False]

    def on_interrupt() -> None:
        interrupted[0] = True
        if not stop_sending.is_set():
            echo("\nInterrupted: stopping the stream, waiting for outstanding results "
                 "(Ctrl-C again to skip)")
            stop_sending.set()
        else:
            echo("\nInterrupted again: skipping the wait")
            abort.set()

    def on_term() -> None:
        interrupted[0] = True
        stop_sending.set()
        abort.set()

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    loop.add_signal_handler(signal.SIGTERM, on_term)

    results_topic, dead_topic = f"{env}.results", f"{env}.dead-letter"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="latest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await consumer.start()
    await producer.start()
    tasks: list[asyncio.Task] = []
    worker_counts: dict = {}
    began = time.time()
    try:
        parts = [TopicPartition(topic, p) for topic in (results_topic, dead_topic)
                 for p in await topic_partitions(bootstrap, topic)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)  # only this run's records count
        for tp in parts:
            await consumer.position(tp)

        async def watch() -> None:
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                for tp, messages in batch.items():
                    for m in messages:
                        try:
                            rec = orjson.loads(m.value)
                        except orjson.JSONDecodeError:
                            continue
                        if tp.topic == results_topic:
                            ledger.on_result(rec)
                        else:
                            ledger.on_dead_letter(rec)

        async def report() -> None:
            last = time.time()
            while True:
                await asyncio.sleep(report_every)
                now = time.time()
                echo(ledger.table(now - began, now - last))
                last = now
                for w in workers:
                    if w.proc.poll() is not None:
                        echo(f"  !! worker {w.name} exited with {w.proc.returncode}; "
                             f"log {w.log_path}")

        def sent(fut) -> None:
            if fut.cancelled() or fut.exception() is not None:
                ledger.send_errors += 1

        tasks = [asyncio.create_task(watch()), asyncio.create_task(report())]
        echo(f"Sending {stream.n_events} events at {stream.rate:g}/s for {stream.seconds:g}s "
             f"to {len(stream.specs)} tenants (run {stream.run_id}); every concept changes "
             f"at {stream.seconds * stream.change_at:g}s")
        behind = 0.0
        for item in stream.timed():
            if stop_sending.is_set():
                break
            delay = item.ts - time.time()
            if delay > 0.002:
                await asyncio.sleep(delay)
                if stop_sending.is_set():
                    break
            else:
                behind = max(behind, -delay)
            fut = await producer.send(f"{env}.{item.topic}", value=item.value, key=item.key)
            fut.add_done_callback(sent)
            ledger.on_sent(item.topic, item.value)
        await producer.flush()
        echo(f"Stream sent in {time.time() - began:.1f}s ({ledger.n_requests} requests; "
             f"the sender was at most {behind * 1000:.0f} ms behind schedule); waiting up to "
             f"{drain_timeout:g}s for the outstanding results")
        deadline = time.monotonic() + drain_timeout
        while (ledger.outstanding() > 0 and time.monotonic() < deadline
               and not abort.is_set()):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a last look for duplicates and late dead letters
        now = time.time()
        echo(ledger.table(now - began, max(now - began, 1e-9)))
        worker_counts = await asyncio.to_thread(save_worker_stats, workers)
        if workers:
            ledger.save_examples(workers[0].log_path.parent)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await consumer.stop()
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
    summary = ledger.summary()
    summary["worker_counts"] = worker_counts
    return summary, interrupted[0]


def save_worker_stats(workers: list) -> dict:
    """Each worker's own ledger (GET /stats/), saved beside its log; its counts."""
    counts = {}
    for w in workers:
        try:
            stats = w.stats()
        except Exception as exc:  # a worker that died or does not answer
            counts[w.name] = {"error": repr(exc)}
            continue
        w.log_path.with_name(f"{w.name}-stats.json").write_bytes(
            orjson.dumps(stats, option=orjson.OPT_INDENT_2))
        counts[w.name] = stats.get("counts", {})
    return counts


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_workers(workers: list) -> dict:
    """SIGTERM every worker at once, SIGKILL a worker after 30 s; their exit codes."""
    with ThreadPoolExecutor(max(1, len(workers))) as pool:
        codes = list(pool.map(lambda w: w.stop(30.0), workers))
    return {w.name: code for w, code in zip(workers, codes)}


def produce_only(bootstrap: str, env: str, seconds: float, rate: float, tenants: int,
                 entities: int, seed: int, report_every: float, drain_timeout: float) -> None:
    """The stream and the live summary against a broker and workers that run elsewhere."""
    from app.settings import Settings
    from app.topics import declare_topics

    asyncio.run(declare_topics(Settings(broker=f"kafka://{bootstrap}", env=env,
                                        partitions=PARTITIONS)))
    stream = DemoStream(seed=seed, seconds=seconds, rate=rate, tenants=tenants,
                        entities=entities, start_ts=time.time() + 0.5,
                        run_id=f"demo{int(time.time())}")
    try:
        summary, interrupted = asyncio.run(
            session(bootstrap, stream, [], report_every, drain_timeout, env=env))
    except KeyboardInterrupt:
        return
    summary["interrupted"] = interrupted
    echo("SUMMARY " + orjson.dumps(summary).decode())
    sys.exit(0 if summary["results"] == summary["requests"] else 1)


@click.command()
@click.option("--seconds", type=float, envvar="DEMO_SECONDS", default=60.0, show_default=True,
              help="How long to send the stream (DEMO_SECONDS).")
@click.option("--rate", type=float, envvar="DEMO_RATE", default=100.0, show_default=True,
              help="Events per second (DEMO_RATE).")
@click.option("--web-port-base", type=int, envvar="DEMO_WEB_PORT_BASE", default=6066,
              show_default=True, help="Web port of the serving worker; the pools take the next "
              "two (DEMO_WEB_PORT_BASE).")
@click.option("--tenants", type=int, default=20, show_default=True)
@click.option("--entities", type=int, default=50, show_default=True, help="Entities per tenant.")
@click.option("--seed", type=int, envvar="DEMO_SEED", default=7, show_default=True)
@click.option("--drain-timeout", type=float, default=30.0, show_default=True,
              help="Longest wait for outstanding results after the stream.")
@click.option("--report-every", type=float, default=5.0, show_default=True)
# 250 ms: three workers, the broker and the producer share this 2-core box (see README).
@click.option("--deadline-ms", type=float, envvar="DEMO_DEADLINE_MS", default=250.0,
              help="Rendezvous deadline of the demo's tenants (RENDEZVOUS_DEADLINE_MS of the "
              "workers; DEMO_DEADLINE_MS).")
@click.option("--bootstrap", envvar="DEMO_BOOTSTRAP", default=None,
              help="Only produce the stream to this broker (host:port) and watch results: the "
              "broker and workers run elsewhere, e.g. docker compose (DEMO_BOOTSTRAP).")
@click.option("--env", "env", envvar="DEMO_ENV", default=ENV, show_default=True,
              help="Environment (topic prefix) of the stream (DEMO_ENV).")
def main(seconds: float, rate: float, web_port_base: int, tenants: int, entities: int,
         seed: int, drain_timeout: float, report_every: float, deadline_ms: float,
         bootstrap: str | None, env: str) -> None:
    """Run the demo: local Kafka, serving + two model pools, a multi-tenant stream."""
    from app.settings import Settings
    from app.topics import declare_topics
    from harness.workers import FaustWorker
    from localkafka import BrokerConfig, LocalKafka

    signal.signal(signal.SIGTERM, _raise_interrupt)
    if bootstrap is not None:
        return produce_only(bootstrap, env, seconds, rate, tenants, entities, seed,
                            report_every, drain_timeout)
    kafka = LocalKafka(BrokerConfig.from_env())
    bootstrap = kafka.bootstrap
    log_dir = REPO / "var" / "demo-logs"
    data_dir = REPO / "var" / "demo-data"
    workers: list = []
    started_broker = False
    summary: dict | None = None
    interrupted = False
    codes: dict = {}
    error = None
    try:
        reused = kafka.pid() is not None
        echo(f"Kafka at {bootstrap}: {'reusing the running broker' if reused else 'starting'} "
             f"(data in {kafka.config.data_dir})")
        started_broker = not reused
        aiokafka_log = logging.getLogger("aiokafka")
        aiokafka_log.setLevel(logging.CRITICAL)  # "Unable connect" while the broker boots
        try:
            took = kafka.start()
        finally:
            aiokafka_log.setLevel(logging.WARNING)
        echo(f"Kafka ready in {took:.1f}s")
        created = asyncio.run(declare_topics(Settings(broker=f"kafka://{bootstrap}", env=ENV,
                                                      partitions=PARTITIONS)))
        echo(f"Topics of env {ENV!r}: {len(created)} created")

        log_dir.mkdir(parents=True, exist_ok=True)
        for i, role in enumerate(ROLES):
            settings = {"broker": f"kafka://{bootstrap}", "env": ENV, "role": role,
                        "web_port": web_port_base + i, "partitions": PARTITIONS,
                        "data_dir": str(data_dir)}
            settings["deadline_ms"] = deadline_ms
            worker = FaustWorker(settings, log_dir)
            worker.log_path.unlink(missing_ok=True)  # readiness is read from this log
            workers.append(worker.start())
        began = time.monotonic()
        for w in workers:
            w.wait_ready(timeout=120.0)
        echo(f"Workers ready in {time.monotonic() - began:.1f}s: "
             + ", ".join(f"{w.name} (pid {w.proc.pid}, :{w.web_port})" for w in workers)
             + f"; logs in {log_dir}")

        run_id = f"demo{int(time.time())}"
        stream = DemoStream(seed=seed, seconds=seconds, rate=rate, tenants=tenants,
                            entities=entities, start_ts=time.time() + 0.5, run_id=run_id)
        summary, interrupted = asyncio.run(
            session(bootstrap, stream, workers, report_every, drain_timeout))
    except KeyboardInterrupt:
        interrupted = True
        echo("\nInterrupted")
    except Exception as exc:  # still stop everything, and still end with a SUMMARY line
        error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # cleanup is bounded: finish it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if workers:
                echo("Stopping workers")
                codes = stop_workers(workers)
            if started_broker:
                echo("Stopping Kafka")
                kafka.stop()
        finally:
            signal.signal(signal.SIGINT, previous)
    if summary is None:
        summary = {"requests": 0, "results": 0, "duplicates": 0, "dead_letters": 0,
                   "fallbacks": 0, "served_accuracy": None, "throughput_eps": 0.0}
    summary["interrupted"] = interrupted
    summary["error"] = error
    summary["worker_exit_codes"] = codes
    summary["broker"] = "started and stopped" if started_broker else "reused, left running"
    ok = summary["requests"] > 0 and summary["results"] == summary["requests"]
    echo("SUMMARY " + orjson.dumps(summary).decode())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
