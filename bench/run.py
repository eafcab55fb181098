"""``make bench``: throughput, latency and scale of Rendezvous against the ML-only ceiling, an
aiokafka passthrough, Quix Streams and Bytewax, side by side in one run on a local broker.

Writes ``bench.json``, ``bench.md``, ``bench.png`` and ``profile.txt`` to ``$BENCH_OUT``
(default ``bench/results``). Knobs (environment):

- ``BENCH_QUICK=1``: a ~1-minute run with tiny sizes (the smoke test uses it);
- ``BENCH_EVENTS``: timed events per throughput run; ``BENCH_TENANTS``: tenants of those runs;
- ``BENCH_SCALE``: comma-separated tenant counts of the scale runs (default 1,100,1000,10000);
- ``BENCH_SCALE_EVENTS``: timed events per scale run;
- ``BENCH_LATENCY_S``: seconds per offered rate of the latency runs;
- ``BENCH_PHASES``: comma-separated subset of ml,aiokafka,pipeline,core,quix,bytewax,scale;
- ``BENCH_ENV_PREFIX``: Rendezvous environment (topic prefix) of the runs, default ``bench``;
- ``BENCH_WEB_PORT_BASE``: first web port of the faust workers (default 19650);
- ``BENCH_BOOTSTRAP``: use this running broker instead of starting one
  (else a broker on ``BENCH_KAFKA_PORT``, default 19592, data in var/kafka-bench-<port>, wiped
  before and after).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PHASES = ("ml", "aiokafka", "pipeline", "core", "quix", "bytewax", "scale")
BENCH_EXTRAS = {"quixstreams": "quixstreams", "confluent_kafka": "confluent-kafka", "bytewax": "bytewax", "matplotlib": "matplotlib",
                "psutil": "psutil", "tqdm": "tqdm", "pyinstrument": "pyinstrument"}


def ensure_extras() -> None:
    """Install the ``bench`` extra into this interpreter when any of it is missing."""
    missing = [m for m in BENCH_EXTRAS if importlib.util.find_spec(m) is None]
    if not (Path(sys.executable).parent / "py-spy").exists() and shutil.which("py-spy") is None:
        missing.append("py-spy")
    if not missing:
        return
    print(f"bench: installing the bench extra (missing: {', '.join(missing)})", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{REPO}[bench]"],
                   check=True, cwd=REPO)
    importlib.invalidate_caches()


@dataclass
class Config:
    quick: bool
    out: Path
    events: int
    tenants: int
    entities: int
    warmup: int
    scale_sizes: list[int]
    scale_events: int
    scale_entities: int
    latency_fracs: tuple[float, ...]
    latency_s: float
    latency_min_events: int
    profile_events: int
    kafka_port: int
    bootstrap: str | None
    phases: set[str]
    web_port_base: int
    stall_s: float
    env_prefix: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "Config":
        env = os.environ
        quick = env.get("BENCH_QUICK", "") not in ("", "0")

        def num(name: str, full: float, fast: float) -> float:
            return float(env.get(name, fast if quick else full))

        sizes = env.get("BENCH_SCALE", "1,10" if quick else "1,100,1000,10000")
        phases = {p.strip() for p in env.get("BENCH_PHASES", ",".join(PHASES)).split(",") if p.strip()}
        unknown = phases - set(PHASES)
        if unknown:
            raise SystemExit(f"BENCH_PHASES: unknown phase(s) {sorted(unknown)}; known: {PHASES}")
        return cls(
            quick=quick,
            out=Path(env.get("BENCH_OUT", REPO / "bench" / "results")),
            events=int(num("BENCH_EVENTS", 6000, 300)),
            tenants=int(num("BENCH_TENANTS", 100, 10)),
            entities=int(num("BENCH_ENTITIES", 20, 5)),
            warmup=int(num("BENCH_WARMUP", 300, 20)),
            scale_sizes=[int(s) for s in sizes.split(",") if s.strip()],
            scale_events=int(num("BENCH_SCALE_EVENTS", 5000, 100)),
            scale_entities=int(num("BENCH_SCALE_ENTITIES", 2, 2)),
            latency_fracs=(0.1, 0.25, 0.5, 0.9),
            latency_s=num("BENCH_LATENCY_S", 15, 1),
            latency_min_events=int(num("BENCH_LATENCY_MIN_EVENTS", 300, 10)),
            profile_events=int(num("BENCH_PROFILE_EVENTS", 4000, 150)),
            kafka_port=int(env.get("BENCH_KAFKA_PORT", "19592")),
            bootstrap=env.get("BENCH_BOOTSTRAP") or None,
            phases=phases,
            web_port_base=int(env.get("BENCH_WEB_PORT_BASE", "19650")),
            stall_s=num("BENCH_STALL_S", 120, 45),
            env_prefix=env.get("BENCH_ENV_PREFIX", "bench"),
        )


class Bench:
    def __init__(self, cfg: Config) -> None:
        from tqdm import tqdm

        from bench.rendezvous import port_counter

        self.cfg = cfg
        self.tqdm = tqdm
        self.ports = port_counter(cfg.web_port_base)
        self.logs = cfg.out / "logs"
        shutil.rmtree(self.logs, ignore_errors=True)  # this run's worker logs only
        self.logs.mkdir(parents=True, exist_ok=True)
        self.systems: dict[str, dict] = {}
        self.latency: list[dict] = []
        self.scale: list[dict] = []
        self.profile_text = ""  # profile.txt: one section per profiled process
        self.profile_summary: dict = {}
        self.hops: dict = {}
        self.steps: list[tuple[str, float]] = []
        self._stopping: list = []
        self._sets: list = []  # every worker set started, stopped at the end whatever happened
        self.errors: dict[str, str] = {}
        self.bootstrap = ""

    # -- plumbing ---------------------------------------------------------------------------

    def stop_later(self, ws) -> None:
        """Stop a worker set in the background (Faust takes seconds to shut down); every timed
        run first waits for such stops, so they never overlap a measurement."""
        import threading

        def stop():
            began = time.monotonic()
            try:
                ws.stop()
            except Exception as exc:
                self.errors[f"stop {ws.env}"] = f"{type(exc).__name__}: {exc}"
            self.step(f"stop workers {ws.env} (background)", began)

        t = threading.Thread(target=stop, daemon=True)
        t.start()
        self._stopping.append(t)

    def join_stops(self) -> None:
        while self._stopping:
            self._stopping.pop().join()

    def step(self, what: str, began: float) -> None:
        self.steps.append((what, round(time.monotonic() - began, 2)))

    def _drive(self, in_topic: str, out_topic: str, events: list[dict], desc: str,
               rate: float | None = None, stall_s: float | None = None):
        from bench.driver import drive

        began = time.monotonic()
        try:
            return self._drive_bar(drive, in_topic, out_topic, events, desc, rate, stall_s)
        finally:
            self.step(f"drive {in_topic}: {desc}", began)

    def _drive_bar(self, drive, in_topic, out_topic, events, desc, rate, stall_s):
        with self.tqdm(total=len(events), desc=f"  {desc}", unit="ev", leave=False,
                       dynamic_ncols=True) as bar:
            return asyncio.run(drive(self.bootstrap, in_topic, out_topic, events, rate=rate,
                                     stall_s=stall_s or self.cfg.stall_s, progress=bar))

    def _topics(self, env: str) -> None:
        from kafka_io import create_missing_topics

        asyncio.run(create_missing_topics(self.bootstrap, {
            f"{env}.{base}": (4, {}) for base in ("events", "state-updates", "results")}))

    def _state(self, env: str, workload) -> None:
        from kafka_io import produce

        asyncio.run(produce(self.bootstrap, f"{env}.state-updates", workload.state_updates(),
                            acks=1))

    def _warm(self, env: str, workload, n: int, what: str) -> None:
        events = workload.events(n, "warm", every_tenant_first=True)
        run = self._drive(f"{env}.events", f"{env}.results", events, f"{what} warm-up",
                          stall_s=max(self.cfg.stall_s, 120))
        if run.missing:
            raise RuntimeError(f"{what}: {run.missing} of {run.sent} warm-up events got no result")

    def _measure(self, name: str, env: str, pids: list[int], events: list[dict],
                 after=None, **extra) -> dict:
        """Timed run: CPU of ``pids`` from before the first event to when all work is done."""
        from bench.procs import cpu_seconds, peak_rss_bytes

        self.join_stops()
        cpu0 = cpu_seconds(pids)
        run = self._drive(f"{env}.events", f"{env}.results", events, name)
        t_done = after() if after else run.t_last_result
        t_done = max(t_done, run.t_last_result)
        cpu = cpu_seconds(pids) - cpu0
        seconds = max(1e-9, t_done - run.t_first_sent)
        row = {"eps": run.received / seconds, "events": run.sent, "received": run.received,
               "duplicates": run.duplicates, "seconds": seconds,
               "cpu_s_per_1k": 1000.0 * cpu / max(1, run.received),
               "cpu_util": cpu / seconds,
               "peak_rss_mib": peak_rss_bytes(pids) / 2**20, "processes": len(pids),
               "reasons": dict(run.reasons), **extra}
        self.systems[name] = row
        return row

    # -- phases -----------------------------------------------------------------------------

    def phase_ml(self) -> None:
        import orjson

        from bench.rendezvous import one_model_deployment

        cfg = self.cfg
        runs = {"ml_ceiling": None, "ml_ceiling_core": one_model_deployment()}
        args = [{"tenants": cfg.tenants, "entities": cfg.entities, "warmup": cfg.warmup,
                 "events": cfg.events, "deployment": d} for d in runs.values()]
        began = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "bench.mlloop", orjson.dumps(args).decode()],
                             cwd=REPO, check=True, capture_output=True, text=True)
        self.step("ML-only loops (subprocess)", began)
        for name, r in zip(runs, orjson.loads(out.stdout.strip().splitlines()[-1])):
            self.systems[name] = {
                "eps": r["eps"], "events": r["events"], "received": r["events"],
                "seconds": r["seconds"], "cpu_s_per_1k": 1000.0 * r["cpu_s"] / r["events"],
                "cpu_util": r["cpu_s"] / r["seconds"],
                "peak_rss_mib": r["peak_rss_bytes"] / 2**20, "processes": 1,
                "note": "in-process loop: " + ", ".join(r["models"]) + " predict + learn"}

    def phase_aiokafka(self) -> None:
        from bench.procs import Child
        from bench.workload import Workload

        env = f"{self.cfg.env_prefix}-pass"
        self._topics(env)
        wl = Workload(self.cfg.tenants, self.cfg.entities)
        child = Child(["-m", "bench.passthrough", self.bootstrap, f"{env}.events",
                       f"{env}.results", f"{env}-group"], self.logs / "aiokafka.log", cwd=REPO)
        try:
            self._warm(env, wl, self.cfg.warmup, "aiokafka")
            self._measure("aiokafka", env, [child.pid], wl.events(self.cfg.events, "max"),
                          note="consume -> produce passthrough (aiokafka, one process)")
        finally:
            child.stop()

    def _rendezvous_set(self, env: str, pools: list[str], deployment: dict | None):
        from bench.rendezvous import WorkerSet

        ws = WorkerSet(self.bootstrap, env, pools, self.logs, self.ports, deployment=deployment)
        self._sets.append(ws)
        began = time.monotonic()
        try:
            ws.start()
            self.step(f"start workers {env}: serving + {' + '.join(pools)}", began)
        except Exception:
            ws.stop()
            raise
        return ws

    def phase_pipeline(self) -> None:
        from bench.driver import percentile
        from bench.workload import Workload

        cfg = self.cfg
        env = cfg.env_prefix
        wl = Workload(cfg.tenants, cfg.entities)
        from bench.rendezvous import Progress

        ws = self._rendezvous_set(env, ["fast", "heavy"], None)
        progress = Progress(ws, models_per_event=3)

        def settle(n: int):
            progress.add(n)
            return progress.wait

        try:
            self._state(env, wl)
            self._warm(env, wl, cfg.warmup, "pipeline")
            settle(cfg.warmup)()
            row = self._measure("pipeline", env, ws.pids(), wl.events(cfg.events, "max"),
                                after=settle(cfg.events),
                                note="serving + fast + heavy faust workers; default deployment "
                                     "(logreg, hoeffding, baseline); done = every result read, "
                                     "every label learned, every score consumed by serving")
            max_eps = row["eps"]
            for frac in cfg.latency_fracs:
                rate = max(1.0, frac * max_eps)
                n = max(cfg.latency_min_events, int(rate * cfg.latency_s))
                tag = f"lat{int(round(frac * 100))}"
                events = wl.events(n, tag)
                run = self._drive(f"{env}.events", f"{env}.results", events,
                                  f"latency at {int(frac * 100)}% ({rate:.0f} ev/s)", rate=rate)
                settle(n)()
                self.latency.append({
                    "pct_of_max": int(round(frac * 100)), "offered_eps": rate,
                    "achieved_eps": run.received / max(1e-9, run.t_last_result - run.t_first_sent),
                    "events": n, "received": run.received,
                    **{f"{k}_ms": percentile(run.decision_ms, q)
                       for k, q in (("p50", 50), ("p99", 99), ("p999", 99.9))},
                    **{f"e2e_{k}_ms": percentile(run.e2e_ms, q)
                       for k, q in (("p50", 50), ("p99", 99), ("p999", 99.9))},
                    "max_ms": max(run.decision_ms, default=None),
                    "reasons": dict(run.reasons)})
            began = time.monotonic()
            try:
                from bench.hops import hop_latencies

                self.hops = hop_latencies(self.bootstrap, env,
                                          [f"lat{r['pct_of_max']}" for r in self.latency])
            except Exception as exc:  # the breakdown is a diagnosis, not a figure
                self.errors["hops"] = f"{type(exc).__name__}: {exc}"
            self.step("hop breakdown (read enriched, scores, results)", began)
            self._profile(env, ws, wl, settle)
        finally:
            self.stop_later(ws)

    def _profile(self, env: str, ws, wl, settle) -> None:
        from bench.profile import Recorder

        n = self.cfg.profile_events
        recorders = {role: Recorder(w.proc.pid, self.cfg.out / f"profile-{role}.raw")
                     for role, w in ws.workers.items()}
        try:
            time.sleep(0.5)
            self._drive(f"{env}.events", f"{env}.results", wl.events(n, "prof"),
                        "profiling (py-spy)")
            settle(n)()
        finally:
            for r in recorders.values():
                r.stop()
        for role, r in recorders.items():
            self._add_profile(role, r.out, f"{role} worker of the full pipeline, {n} events at "
                                           "max rate")

    def _add_profile(self, name: str, raw: Path, what: str) -> None:
        from bench.profile import summarise

        if not raw.exists():
            log = raw.with_suffix(".log")
            why = log.read_text()[-500:] if log.exists() else "py-spy wrote nothing"
            self.profile_text += f"== {name}: no profile ({why})\n\n"
            return
        text, summary = summarise(raw)
        self.profile_summary[name] = summary
        self.profile_text += f"== {name}: {what} (py-spy)\n{text}\n\n"

    def phase_core(self) -> None:
        from bench.rendezvous import one_model_deployment
        from bench.workload import Workload

        cfg = self.cfg
        env = f"{cfg.env_prefix}-core"
        wl = Workload(cfg.tenants, cfg.entities)
        from bench.rendezvous import Progress

        ws = self._rendezvous_set(env, ["fast"], one_model_deployment())
        progress = Progress(ws, models_per_event=1)
        try:
            self._state(env, wl)
            self._warm(env, wl, cfg.warmup, "core")
            progress.add(cfg.warmup)
            progress.wait()
            progress.add(cfg.events)
            self._measure("rendezvous_core", env, ws.pids(), wl.events(cfg.events, "max"),
                          after=progress.wait,
                          note="serving + fast faust workers, one logreg champion per tenant")
        finally:
            self.stop_later(ws)

    def _peer(self, name: str, env: str, args: list[str], note: str) -> None:
        from bench.procs import Child
        from bench.workload import Workload

        cfg = self.cfg
        self._topics(env)
        wl = Workload(cfg.tenants, cfg.entities)
        self._state(env, wl)
        child = Child(args, self.logs / f"{name}.log", cwd=REPO)
        try:
            self._warm(env, wl, cfg.warmup, name)
            self._measure(name, env, [child.pid], wl.events(cfg.events, "max"), note=note)
        except Exception as exc:
            raise RuntimeError(f"{exc}\n{child.tail()}") from exc
        finally:
            child.stop()

    def phase_quix(self) -> None:
        import quixstreams

        state = REPO / "var" / f"{self.cfg.env_prefix}-quix-state-{self.cfg.kafka_port}"
        shutil.rmtree(state, ignore_errors=True)
        env = f"{self.cfg.env_prefix}-quix"
        try:
            self._peer("quix", env, ["-m", "bench.peers.quix_job", self.bootstrap, env, str(state)],
                       f"Quix Streams {quixstreams.__version__}: one process, RocksDB state")
        finally:
            shutil.rmtree(state, ignore_errors=True)

    def phase_bytewax(self) -> None:
        from importlib.metadata import version

        env = f"{self.cfg.env_prefix}-bytewax"
        self._peer("bytewax", env, ["-m", "bench.peers.bytewax_job", self.bootstrap, env],
                   f"Bytewax {version('bytewax')}: one process, one worker")

    def phase_scale(self) -> None:
        """Tenants x 3 models in one pool worker: a fresh worker set per size (a quick run
        re-uses one set, so its later sizes also hold the earlier sizes' tenants)."""
        from bench.rendezvous import three_models_one_pool

        from bench.rendezvous import Progress

        cfg = self.cfg
        ws = None
        try:
            for i, tenants in enumerate(cfg.scale_sizes):
                if ws is None or not cfg.quick:
                    if ws is not None:
                        self.stop_later(ws)
                    ws = None
                    ws = self._rendezvous_set(f"{cfg.env_prefix}-s{tenants}", ["fast"],
                                              three_models_one_pool())
                    progress = Progress(ws, models_per_event=3)
                self._scale_size(ws, ws.env, tenants, f"s{i}x", progress)
        finally:
            if ws is not None:
                self.stop_later(ws)

    def _scale_size(self, ws, env: str, tenants: int, prefix: str, progress) -> None:
        from bench.procs import peak_rss_bytes
        from bench.workload import Workload

        cfg = self.cfg
        wl = Workload(tenants, cfg.scale_entities, prefix=prefix)
        self._state(env, wl)
        warm = max(tenants, 10)
        self._warm(env, wl, warm, f"{tenants} tenants")
        progress.add(warm)
        progress.wait(timeout=900)
        progress.add(cfg.scale_events)
        recorder = None
        if tenants == max(cfg.scale_sizes) and tenants > 1:  # where the per-tenant costs show
            from bench.profile import Recorder

            recorder = Recorder(ws.workers["fast"].proc.pid,
                                cfg.out / f"profile-scale-{tenants}-pool.raw")
        try:
            row = self._measure(f"scale_{tenants}", env, ws.pids(),
                                wl.events(cfg.scale_events, "max"),
                                after=lambda: progress.wait(timeout=900),
                                note=f"{tenants} tenants x 3 models in one pool worker")
        finally:
            if recorder is not None:
                recorder.stop()
                self._add_profile(f"scale-{tenants}-pool", recorder.out,
                                  f"pool worker holding {tenants} tenants x 3 models, "
                                  f"{cfg.scale_events} events at max rate")
        pool_pid = ws.workers["fast"].proc.pid
        serving_pid = ws.workers["serving"].proc.pid
        self.scale.append({"tenants": tenants, "eps": row["eps"],
                           "pool_rss_gib": peak_rss_bytes([pool_pid]) / 2**30,
                           "serving_rss_gib": peak_rss_bytes([serving_pid]) / 2**30,
                           "cpu_s_per_1k": row["cpu_s_per_1k"]})

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> dict:
        from localkafka import BrokerConfig, LocalKafka

        cfg = self.cfg
        broker = None
        started = time.time()
        load0 = os.getloadavg()
        order = [p for p in PHASES if p in cfg.phases]
        with self.tqdm(total=len(order) + 1, desc="bench", unit="phase", dynamic_ncols=True) as bar:
            if cfg.bootstrap:
                self.bootstrap = cfg.bootstrap
            else:
                bar.set_postfix_str("starting Kafka")
                broker = LocalKafka(BrokerConfig(
                    port=cfg.kafka_port,
                    data_dir=REPO / "var" / f"kafka-bench-{cfg.kafka_port}"))
                broker.wipe()
                broker.start()
                self.bootstrap = broker.bootstrap
            bar.update(1)
            try:
                for phase in order:
                    bar.set_postfix_str(phase)
                    began = time.monotonic()
                    try:
                        getattr(self, f"phase_{phase}")()
                    except Exception as exc:  # one broken system must not lose the others' figures
                        self.errors[phase] = f"{type(exc).__name__}: {exc}"[:4000]
                        bar.write(f"bench: phase {phase} failed: {self.errors[phase]}")
                    bar.write(f"bench: {phase} done in {time.monotonic() - began:.0f}s")
                    bar.update(1)
            finally:
                self.join_stops()
                for ws in self._sets:
                    ws.stop()  # a no-op for sets already stopped
                if broker is not None:
                    broker.wipe()
        from bench import report

        meta = {"started_at": started, "seconds": time.time() - started, "quick": cfg.quick,
                "loadavg_before": load0, "loadavg_after": os.getloadavg(),
                "cpus": os.cpu_count(), "steps": self.steps, "python": platform.python_version(),
                "versions": _versions(), "config": {
                    k: (str(v) if isinstance(v, Path) else sorted(v) if isinstance(v, set) else v)
                    for k, v in cfg.__dict__.items() if k != "extra"}}
        return report.write(cfg.out, self, meta)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("faust-streaming", "river", "aiokafka", "quixstreams", "bytewax", "orjson"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def main() -> int:
    ensure_extras()
    cfg = Config.from_env()
    cfg.out.mkdir(parents=True, exist_ok=True)
    result = Bench(cfg).run()
    print((cfg.out / "bench.md").read_text())
    print(f"bench: wrote {cfg.out / 'bench.json'}, bench.md, bench.png, profile.txt")
    return 1 if result.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
