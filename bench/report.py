"""bench.json (figures and ratios), bench.md (the table), bench.png (the plot), profile.txt."""

from __future__ import annotations

import math
from pathlib import Path

import orjson

from bench.rendezvous import DEADLINE_MS

TARGETS = {  # key: (comparison, target), from the benchmark issue
    "pipeline_vs_ml_ceiling": (">=", 0.5),
    "core_vs_quix": (">=", 1.0),
    "core_vs_bytewax": (">=", 1.0),
    "p99_ms_at_25pct": ("<=", 10.0),
    "tenants_10k_rss_gib": ("<=", 2.0),
    "tenants_10k_vs_1": (">=", 0.8),
}

LABELS = {
    "ml_ceiling": "(a) ML-only ceiling, 3 models",
    "aiokafka": "(b) aiokafka passthrough",
    "pipeline": "(c) Rendezvous full pipeline",
    "ml_ceiling_core": "(a') ML-only ceiling, 1 model",
    "rendezvous_core": "(d) Rendezvous core, 1 model",
    "quix": "(d) Quix Streams core",
    "bytewax": "(d) Bytewax core",
}


def _ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def _eps(systems: dict, name: str):
    row = systems.get(name)
    return row["eps"] if row else None


def figures(bench) -> dict:
    s = bench.systems
    out = {
        "pipeline_eps": _eps(s, "pipeline"),
        "ml_ceiling_eps": _eps(s, "ml_ceiling"),
        "aiokafka_eps": _eps(s, "aiokafka"),
        "core_eps": _eps(s, "rendezvous_core"),
        "core_ml_ceiling_eps": _eps(s, "ml_ceiling_core"),
        "quix_eps": _eps(s, "quix"),
        "bytewax_eps": _eps(s, "bytewax"),
    }
    out["pipeline_vs_ml_ceiling"] = _ratio(out["pipeline_eps"], out["ml_ceiling_eps"])
    out["pipeline_vs_aiokafka"] = _ratio(out["pipeline_eps"], out["aiokafka_eps"])
    out["core_vs_quix"] = _ratio(out["core_eps"], out["quix_eps"])
    out["core_vs_bytewax"] = _ratio(out["core_eps"], out["bytewax_eps"])
    out["core_vs_ml_ceiling"] = _ratio(out["core_eps"], out["core_ml_ceiling_eps"])
    # The same comparisons by CPU cost (CPU-s per 1k events, inverted so that > 1 is better):
    # steadier than events/s on a shared box, where a process may get less than its core.
    for key, mine, theirs in (("pipeline_vs_ml_ceiling_cpu", "pipeline", "ml_ceiling"),
                              ("core_vs_quix_cpu", "rendezvous_core", "quix"),
                              ("core_vs_bytewax_cpu", "rendezvous_core", "bytewax")):
        a, b = s.get(mine), s.get(theirs)
        out[key] = _ratio(b["cpu_s_per_1k"], a["cpu_s_per_1k"]) if a and b else None
    for row in bench.latency:
        pct = row["pct_of_max"]
        for k in ("p50", "p99", "p999"):
            out[f"{k}_ms_at_{pct}pct"] = row[f"{k}_ms"]
            out[f"e2e_{k}_ms_at_{pct}pct"] = row[f"e2e_{k}_ms"]
    out.setdefault("p99_ms_at_25pct", None)
    out.setdefault("p999_ms_at_25pct", None)
    by_t = {r["tenants"]: r for r in bench.scale}
    for t, r in by_t.items():
        out[f"tenants_{t}_eps"] = r["eps"]
        out[f"tenants_{t}_rss_gib"] = r["pool_rss_gib"]
    base = by_t.get(1)
    big = by_t.get(10_000)
    out["tenants_10k_rss_gib"] = big["pool_rss_gib"] if big else None
    out["tenants_10k_vs_1"] = _ratio(big["eps"], base["eps"]) if big and base else None
    if by_t:
        top = max(by_t)
        out["tenants_max"] = top
        out["tenants_max_rss_gib"] = by_t[top]["pool_rss_gib"]
        out["tenants_max_vs_1"] = _ratio(by_t[top]["eps"], base["eps"]) if base else None
    return out


def _target_rows(figs: dict) -> dict:
    rows = {}
    for key, (op, target) in TARGETS.items():
        value = figs.get(key)
        reached = None if value is None else (value >= target if op == ">=" else value <= target)
        rows[key] = {"value": value, "target": f"{op} {target}", "reached": reached}
    return rows


def _f(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def markdown(figs: dict, bench, meta: dict) -> str:
    lines = ["# Rendezvous benchmark", ""]
    lines.append(f"{'Quick run (BENCH_QUICK=1): sizes are tiny, figures only prove the harness. ' if meta['quick'] else ''}"
                 f"One run, {meta['cpus']} CPUs shared, load average before {meta['loadavg_before'][0]:.2f}, "
                 f"after {meta['loadavg_after'][0]:.2f}; {meta['seconds']:.0f} s in all. "
                 "Absolute figures are noisy; the ratios are measured side by side.")
    lines += ["", "## Throughput", "",
              "| system | events/s | CPU-s / 1k events | CPU use (cores) | peak RSS MiB | processes | events | answers |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, label in LABELS.items():
        r = bench.systems.get(name)
        if r is None:
            continue
        answers = ", ".join(f"{k} {v}" for k, v in sorted(r.get("reasons", {}).items()) if k != "-")
        lines.append(f"| {label} | {_f(r['eps'], 0)} | {_f(r['cpu_s_per_1k'], 2)} | "
                     f"{_f(r.get('cpu_util'), 2)} | {_f(r['peak_rss_mib'], 0)} | {r['processes']} | "
                     f"{_f(r['received'])} | {answers} |")
    lines += ["", "Events/s: first event produced to last result read (Rendezvous: and every pool "
              "has learned every label and the serving worker has consumed every score). CPU: the "
              "system's own processes, broker and driver excluded; CPU use well under 1 core means "
              "the system waited (for input: the driver produces ~10-20k events/s, so the fastest "
              "peers' figures are lower bounds). Peak RSS: sum of each process's VmHWM. Answers: "
              "Rendezvous's result reasons (a burst longer than the deadline ends in deadline "
              "answers).", ""]
    lines += ["## Ratios and targets", "", "| figure | value | target | reached |", "|---|---:|---:|:---:|"]
    for key, row in _target_rows(figs).items():
        mark = "-" if row["reached"] is None else ("yes" if row["reached"] else "**no**")
        lines.append(f"| {key} | {_f(row['value'], 2)} | {row['target']} | {mark} |")
    for key in ("pipeline_vs_aiokafka", "core_vs_ml_ceiling", "pipeline_vs_ml_ceiling_cpu",
                "core_vs_quix_cpu", "core_vs_bytewax_cpu"):
        lines.append(f"| {key} | {_f(figs.get(key), 2)} | | |")
    if bench.latency:
        lines += ["", "## Latency of the full pipeline at fixed offered rates", "",
                  "Request -> result: the result's `latency_ms` (decided_at - the producer's ts); "
                  "end to end: read by the client - the producer's ts. The bench's deadline is "
                  f"{DEADLINE_MS / 1000:.0f} s, so an answer is the champion's unless its reason "
                  "says otherwise.", "",
                  "| offered | ev/s | achieved ev/s | n | p50 ms | p99 ms | p99.9 ms | e2e p50 | e2e p99 | e2e p99.9 | reasons |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in bench.latency:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items()))
            lines.append(f"| {r['pct_of_max']}% | {_f(r['offered_eps'], 0)} | {_f(r['achieved_eps'], 0)} | "
                         f"{r['received']} | {_f(r['p50_ms'])} | {_f(r['p99_ms'])} | {_f(r['p999_ms'])} | "
                         f"{_f(r['e2e_p50_ms'])} | {_f(r['e2e_p99_ms'])} | {_f(r['e2e_p999_ms'])} | {reasons} |")
    if bench.hops:
        lines += ["", "### Hop by hop (from the records' own timestamps), p50 / p99 ms", "",
                  "| offered | enrich | score (champion) | rendezvous | total |", "|---:|---:|---:|---:|---:|"]
        for r in bench.latency:
            h = bench.hops.get(f"lat{r['pct_of_max']}", {})

            def cell(prefix):
                v = next((x for k, x in h.items() if k.startswith(prefix)), None)
                return "-" if v is None else f"{_f(v['p50_ms'])} / {_f(v['p99_ms'])}"

            lines.append(f"| {r['pct_of_max']}% | {cell('enrich')} | {cell('score')} | "
                         f"{cell('rendezvous')} | {cell('total')} |")
    if bench.scale:
        lines += ["", "## Scale: tenants x 3 models in one pool worker", "",
                  "| tenants | events/s | vs 1 tenant | pool RSS GiB | serving RSS GiB | CPU-s / 1k |",
                  "|---:|---:|---:|---:|---:|---:|"]
        base = next((r["eps"] for r in bench.scale if r["tenants"] == 1), None)
        for r in bench.scale:
            lines.append(f"| {r['tenants']:,} | {_f(r['eps'], 0)} | {_f(_ratio(r['eps'], base), 2)} | "
                         f"{_f(r['pool_rss_gib'], 3)} | {_f(r['serving_rss_gib'], 3)} | "
                         f"{_f(r['cpu_s_per_1k'], 2)} |")
    if bench.profile_summary:
        lines += ["", "## Where the pipeline's time goes (py-spy, self time by area)", ""]
        for role, s in bench.profile_summary.items():
            areas = ", ".join(f"{a} {100 * v:.0f}%" for a, v in list(s["areas"].items())[:7])
            lines.append(f"- **{role}** ({s['samples']} samples): {areas}")
        lines.append("")
        lines.append("Top functions per worker: `profile.txt`.")
    if bench.errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {phase}: `{err.splitlines()[0]}`" for phase, err in bench.errors.items()]
    return "\n".join(lines) + "\n"


def plot(path: Path, bench) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    names = [n for n in LABELS if n in bench.systems]
    labels = [LABELS[n].split(") ", 1)[-1] for n in names]
    ax = axes[0][0]
    ax.barh(labels, [bench.systems[n]["eps"] for n in names], color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("events/s (log)")
    ax.set_title("Throughput")
    ax.invert_yaxis()
    ax = axes[0][1]
    ax.barh(labels, [bench.systems[n]["cpu_s_per_1k"] for n in names], color="tab:orange")
    ax.set_xscale("log")
    ax.set_xlabel("CPU-seconds per 1,000 events (log)")
    ax.set_title("Cost")
    ax.invert_yaxis()
    ax = axes[1][0]
    if bench.latency:
        x = [r["pct_of_max"] for r in bench.latency]
        for k, style in (("p50", "o-"), ("p99", "s-"), ("p999", "^-")):
            ys = [r[f"{k}_ms"] for r in bench.latency]
            if all(y is not None for y in ys):
                ax.plot(x, ys, style, label=k.replace("p999", "p99.9"))
        ax.set_yscale("log")
        ax.set_xlabel("offered load, % of max throughput")
        ax.set_ylabel("request -> result ms (log)")
        ax.legend()
    ax.set_title("Pipeline latency")
    ax = axes[1][1]
    if bench.scale:
        t = [r["tenants"] for r in bench.scale]
        ax.plot(t, [r["eps"] for r in bench.scale], "o-", color="tab:blue", label="events/s")
        ax.set_xscale("log")
        ax.set_xlabel("tenants (x 3 models, one pool worker)")
        ax.set_ylabel("events/s")
        ax2 = ax.twinx()
        ax2.plot(t, [r["pool_rss_gib"] for r in bench.scale], "s--", color="tab:red",
                 label="pool RSS GiB")
        ax2.set_ylabel("pool worker peak RSS, GiB")
        ax.legend(loc="upper left")
        ax2.legend(loc="upper right")
    ax.set_title("Scale")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(out: Path, bench, meta: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    figs = figures(bench)
    doc = {**figs, "targets": _target_rows(figs), "systems": bench.systems,
           "latency": bench.latency, "hops": bench.hops, "scale": bench.scale, "profile": bench.profile_summary,
           "errors": bench.errors, "meta": meta}
    (out / "bench.json").write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2
                                                  | orjson.OPT_SERIALIZE_NUMPY))
    (out / "bench.md").write_text(markdown(figs, bench, meta))
    (out / "profile.txt").write_text(bench.profile_text or "no profile in this run\n")
    try:
        plot(out / "bench.png", bench)
    except Exception as exc:  # a plot must not cost the figures
        bench.errors["plot"] = f"{type(exc).__name__}: {exc}"
    return doc
