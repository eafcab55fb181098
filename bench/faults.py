"""``make bench-faults``: the long fault drills, written to $BENCH_OUT/faults.json and faults.md.

- fuzz: 100k records (30 % built to fail) mixed with valid traffic through real workers;
- crash loop: steady multi-tenant load, kill -9 one worker (serving, fast, heavy in turn)
  every 20 s for 5 rounds, restarting it; a verifier recomputes results from the input;
- broker faults: SIGSTOP the broker for 20 s then SIGCONT; kill -9 it and restart it on the
  same data directory; workers are never restarted;
- recovery: a pool killed mid-stream (10k training records, seeded models incl. Hoeffding
  tree and ARF) against a crash-free reference: per-record prediction mismatches.
Sizes shrink with BENCH_QUICK=1.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import orjson

from harness.faults import (Cluster, Load, broker_pause, broker_restart, crash_loop, label_mismatches,
                            verify)
from harness.fuzz import corpus
from kafka_io import produce, read_all

REPO = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("BENCH_QUICK") == "1"
OUT = Path(os.environ.get("BENCH_OUT", REPO / "bench" / "results"))
PORT = int(os.environ.get("BENCH_FAULTS_KAFKA_PORT", "19792"))
WEB = int(os.environ.get("BENCH_FAULTS_WEB_PORT_BASE", "16900"))


def say(text: str) -> None:
    print(text, flush=True)


def run() -> dict:
    root = REPO / "var" / f"bench-faults-{PORT}"
    report: dict = {"quick": QUICK}
    env_n = [0]

    def cluster() -> Cluster:
        env_n[0] += 1
        return Cluster(root, PORT, f"bf{os.getpid() % 1000}x{env_n[0]}",
                       roles=("serving", "fast", "heavy"), web_port_base=WEB,
                       settings={"deadline_ms": 5000, "checkpoint_every_n": 200}).start()

    # 1. fuzz
    n = 5_000 if QUICK else 100_000
    say(f"fuzz: {n} records through serving + fast + heavy ...")
    c = cluster()
    try:
        records = corpus(n, seed=2026)
        began = time.monotonic()
        asyncio.run(produce(c.bootstrap, f"{c.env}.events", [(r.key, r.value) for r in records]))
        valid = [r.request_id for r in records if not r.bad]
        outcome = verify(c.bootstrap, c.env, valid, timeout=1800)
        dead = asyncio.run(read_all(c.bootstrap, f"{c.env}.dead-letter", quiet_s=3.0))
        bad = sum(r.bad for r in records)
        report["fuzz"] = {"records": n, "bad": bad, "dead_letters": len(dead),
                          "lost": outcome["lost"], "duplicates": outcome["duplicates"],
                          "crashes": c.crashes(), "seconds": round(time.monotonic() - began, 1)}
        say(f"  {report['fuzz']}")
    finally:
        c.stop()

    # 2. crash loop + 3. broker faults, on one cluster under steady load
    rounds, interval = (2, 10) if QUICK else (5, 20)
    say(f"crash loop: kill -9 every {interval}s for {rounds} rounds under load ...")
    c = cluster()
    try:
        load = Load(c.bootstrap, c.env, rate=50, tenants=10).start()
        crash_loop(c, ["serving", "fast", "heavy"], rounds=rounds, interval=interval)
        pause_s = 5 if QUICK else 20
        say(f"broker: SIGSTOP {pause_s}s, then kill -9 and restart ...")
        paused = broker_pause(c, seconds=pause_s, tag="probe-pause")
        restarted = broker_restart(c, tag="probe-restart")
        time.sleep(5)
        sent = load.stop()
        outcome = verify(c.bootstrap, c.env, sent, timeout=600)
        labels = dict(load.labels)
        wrong = label_mismatches(c, labels)
        report["crash_loop"] = {"requests": outcome["requests"], "lost": outcome["lost"],
                                "duplicates": outcome["duplicates"], "reasons": outcome["reasons"],
                                "crashes": c.crashes(),
                                "trained_not_equal_labels": wrong}
        report["broker"] = {"pause_s": pause_s, "pause_resume": paused, "restart_resume": restarted}
        say(f"  {report['crash_loop']}\n  {report['broker']}")
    finally:
        c.stop()

    # 4. recovery: prediction mismatches against a crash-free run
    say("recovery: kill -9 a pool mid-stream vs a crash-free reference ...")
    from localkafka import BrokerConfig, LocalKafka
    from tests.integration.test_recovery import kill9_recovery

    kafka = LocalKafka(BrokerConfig(port=PORT, data_dir=root / f"kafka-{PORT}"))
    kafka.wipe()
    kafka.start()
    try:
        os.environ.setdefault("TEST_WEB_PORT_BASE", str(WEB + 20))
        outcome = kill9_recovery(kafka.bootstrap, root / "logs", n_records=2_000 if QUICK else 10_000,
                                 with_arf=not QUICK)
        report["recovery"] = {"records": 2_000 if QUICK else 10_000,
                              "mismatches": outcome.mismatches(),
                              "killed_after": outcome.killed_after,
                              "restart_ready_s": round(outcome.restart_ready_s, 2),
                              "caught_up_s": round(outcome.caught_up_s, 2),
                              "recovery": outcome.recovery}
        say(f"  {report['recovery']}")
    finally:
        kafka.wipe()

    fuzz, loop = report["fuzz"], report["crash_loop"]
    report["summary"] = {
        "lost": fuzz["lost"] + loop["lost"],
        "duplicates": fuzz["duplicates"] + loop["duplicates"],
        "crashes": fuzz["crashes"] + loop["crashes"],
        "dead_letter_mismatch": abs(fuzz["dead_letters"] - fuzz["bad"]),
        "prediction_mismatches": len(report["recovery"]["mismatches"]),
        "trained_label_mismatches": len(loop["trained_not_equal_labels"]),
        # Resumed = a request is answered by its champion again (scoring is back), not merely
        # answered by default at its deadline; the first answer of any kind is reported beside it.
        "broker_pause_resume_s": report["broker"]["pause_resume"]["champion_s"],
        "broker_restart_resume_s": report["broker"]["restart_resume"]["champion_s"],
        "broker_pause_first_answer_s": report["broker"]["pause_resume"]["first_answer_s"],
        "broker_restart_first_answer_s": report["broker"]["restart_resume"]["first_answer_s"],
    }
    return report


def write(report: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    flat = {**report["summary"], "details": report}
    (OUT / "faults.json").write_bytes(orjson.dumps(flat, option=orjson.OPT_INDENT_2))
    rows = "\n".join(f"| {k} | {v} |" for k, v in report["summary"].items())
    (OUT / "faults.md").write_text(f"| figure | value |\n|---|---|\n{rows}\n")
    say(f"\nwrote {OUT / 'faults.json'}\n| figure | value |\n|---|---|\n{rows}")


if __name__ == "__main__":
    write(run())
    sys.exit(0)
