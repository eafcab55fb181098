"""Production vs staging, request by request: served answers and each model's accuracy.

Only requests present in both environments are compared, so a partial replay compares like
with like. Labels come from production's training records, keyed by (tenant, request_id).
"""

from __future__ import annotations

from collections import defaultdict


def _accuracy(pairs: list[tuple[object, object]]) -> float | None:
    return sum(out == y for out, y in pairs) / len(pairs) if pairs else None


def compare(prod_results: list[dict], staging_results: list[dict], prod_scores: list[dict],
            staging_scores: list[dict], labels: dict[tuple[str, str], object]) -> dict:
    """Per tenant: served agreement and accuracy; per model: accuracy in each env and the gap.

    Examples
    --------
    >>> r = lambda rid, out, model="lr": {"tenant": "t", "request_id": rid, "output": out,
    ...                                   "model": model}
    >>> s = lambda rid, model, out: {"tenant": "t", "request_id": rid, "model": model,
    ...                              "output": out, "error": None}
    >>> labels = {("t", "a"): True, ("t", "b"): False}
    >>> report = compare([r("a", True), r("b", True)], [r("a", True), r("b", False)],
    ...                  [s("a", "lr", True), s("b", "lr", True)],
    ...                  [s("a", "lr", True), s("b", "lr", True), s("a", "new", True),
    ...                   s("b", "new", False)], labels)
    >>> report["tenants"]["t"]["served"]
    {'requests': 2, 'agree': 1, 'prod_accuracy': 0.5, 'staging_accuracy': 1.0, 'labelled': 2}
    >>> report["tenants"]["t"]["models"]["new"]
    {'prod_accuracy': None, 'staging_accuracy': 1.0, 'difference': None, 'prod_n': 0, 'staging_n': 2}
    >>> report["tenants"]["t"]["models"]["lr"]["difference"]
    0.0
    """
    prod = {(r["tenant"], r["request_id"]): r for r in prod_results}
    staging = {(r["tenant"], r["request_id"]): r for r in staging_results}
    common = prod.keys() & staging.keys()
    tenants: dict = defaultdict(lambda: {"served": None, "models": {}})
    by_tenant: dict = defaultdict(list)
    for key in common:
        by_tenant[key[0]].append(key)
    for tenant, keys in sorted(by_tenant.items()):
        labelled = [k for k in keys if k in labels]
        tenants[tenant]["served"] = {
            "requests": len(keys),
            "agree": sum(prod[k]["output"] == staging[k]["output"] for k in keys),
            "prod_accuracy": _accuracy([(prod[k]["output"], labels[k]) for k in labelled]),
            "staging_accuracy": _accuracy([(staging[k]["output"], labels[k]) for k in labelled]),
            "labelled": len(labelled),
        }
    per_model: dict = defaultdict(lambda: {"prod": [], "staging": []})
    for env, scores in (("prod", prod_scores), ("staging", staging_scores)):
        for s in scores:
            key = (s["tenant"], s["request_id"])
            if key in common and key in labels and s.get("error") is None:
                per_model[(s["tenant"], s["model"])][env].append((s["output"], labels[key]))
    for (tenant, model), pairs in sorted(per_model.items()):
        p, st = _accuracy(pairs["prod"]), _accuracy(pairs["staging"])
        tenants[tenant]["models"][model] = {
            "prod_accuracy": p, "staging_accuracy": st,
            "difference": None if p is None or st is None else st - p,
            "prod_n": len(pairs["prod"]), "staging_n": len(pairs["staging"]),
        }
    return {"requests_compared": len(common), "tenants": dict(tenants)}


def format_report(report: dict) -> str:
    """A plain table for the terminal."""
    lines = [f"requests compared: {report['requests_compared']}",
             f"{'tenant':<16} {'model':<16} {'prod acc':>9} {'staging acc':>12} {'diff':>8} {'n':>7}"]

    def pct(v):
        return "-" if v is None else f"{v:.3f}"

    for tenant, t in report["tenants"].items():
        served = t["served"] or {}
        lines.append(f"{tenant:<16} {'(served)':<16} {pct(served.get('prod_accuracy')):>9} "
                     f"{pct(served.get('staging_accuracy')):>12} "
                     f"{'':>8} {served.get('requests', 0):>7}")
        for model, m in t["models"].items():
            diff = "-" if m["difference"] is None else f"{m['difference']:+.3f}"
            lines.append(f"{'':<16} {model:<16} {pct(m['prod_accuracy']):>9} "
                         f"{pct(m['staging_accuracy']):>12} {diff:>8} "
                         f"{max(m['prod_n'], m['staging_n']):>7}")
    return "\n".join(lines)
