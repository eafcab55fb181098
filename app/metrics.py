"""Prometheus metrics of one worker, on a registry of its own (several apps can share a process)."""

from __future__ import annotations

import heapq
import math
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("rendezvous_requests", "Valid events enriched into requests.",
                                registry=r)
        self.results = Counter("rendezvous_results", "Results emitted, by decision reason.",
                               ["reason"], registry=r)
        self.result_latency = Histogram("rendezvous_result_latency_seconds",
                                        "Request time to result, end to end.",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.dead_letters = Counter("rendezvous_dead_letters", "Records dead-lettered, by stage "
                                    "and error class.", ["stage", "error"], registry=r)
        self.late_scores = Counter("rendezvous_late_scores", "Scores that arrived after their "
                                   "request's result (counted, never re-emitted).", registry=r)
        self.pending = Gauge("rendezvous_pending_slots", "Requests waiting for their result.",
                             registry=r)
        self.training = Counter("rendezvous_training_records", "Training records emitted, by "
                                "label source.", ["source"], registry=r)
        self.label_expiries = Counter("rendezvous_label_expiries", "Requests whose delayed "
                                      "label did not come within the TTL.", registry=r)
        self.scores = Counter("rendezvous_scores", "Scores emitted by this pool, by model role "
                              "and outcome.", ["role", "outcome"], registry=r)
        self.scoring_latency = Histogram("rendezvous_scoring_latency_seconds",
                                         "predict time of one model on one request.", ["role"],
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.learned = Counter("rendezvous_learned", "Examples learned, summed over models.",
                               registry=r)
        # Operations: control commands, rollbacks, checkpoints, partition health.
        self.scores_received = Counter("rendezvous_scores_received", "Scores received by the "
                                       "rendezvous, by model role and outcome (ok, error).",
                                       ["role", "outcome"], registry=r)
        self.control_commands = Counter("rendezvous_control_commands", "Control commands, by "
                                        "command and outcome (applied, rejected).",
                                        ["command", "outcome"], registry=r)
        self.rollbacks = Counter("rendezvous_rollbacks", "Deployments rolled back, by trigger "
                                 "(automatic, manual).", ["trigger"], registry=r)
        self.drift_events = Counter("rendezvous_drift_events", "Drift events seen, by signal "
                                    "(error, divergence, feature).", ["signal"], registry=r)
        self.api_requests = Counter("rendezvous_api_requests", "Control and read API requests, by "
                                    "method and status code.", ["method", "status"], registry=r)
        self.checkpoint_size = Gauge("rendezvous_checkpoint_size_bytes", "Size of the newest "
                                     "model checkpoint written by this worker.", registry=r)
        self.checkpoint_age = Gauge("rendezvous_checkpoint_age_seconds", "Age of the newest model "
                                    "checkpoint written by this worker (NaN: none yet).",
                                    registry=r)
        self._checkpoint_at: float | None = None
        self.partition_stalls = Counter("rendezvous_partition_stalls", "Held partitions found "
                                        "with records waiting and no progress for "
                                        "RENDEZVOUS_STALL_AFTER_S, by topic (each was re-read).",
                                        ["topic"], registry=r)
        self.commit_holes = Counter("rendezvous_commit_holes", "Held partitions whose commit "
                                    "stood below records already processed (a record skipped, "
                                    "never processed), by topic (each was re-read).",
                                    ["topic"], registry=r)
        self.checkpoint_age.set_function(
            lambda: math.nan if self._checkpoint_at is None else time.time() - self._checkpoint_at)

    def checkpoint_written(self, size_bytes: int, created_at: float) -> None:
        self.checkpoint_size.set(size_bytes)
        self._checkpoint_at = max(created_at, self._checkpoint_at or 0.0)

    def watch_tenants(self, stats, top_n: int) -> None:
        """Export per-tenant series for the `top_n` busiest tenants, the rest as "_other"."""
        self.registry.register(TenantCollector(stats, top_n))


OTHER = "_other"


class TenantCollector:
    """Per-tenant series computed at scrape time from the exact ledger (`app.stats.Stats`).

    Only the `top_n` busiest tenants (by requests, or scores on a pool) get a tenant label;
    every other tenant is summed into tenant="_other", so the series count is bounded by
    top_n + 1 whatever the number of tenants, and the sum over the label is the total.
    """

    def __init__(self, stats, top_n: int) -> None:
        self.stats = stats
        self.top_n = top_n

    def describe(self):
        return []  # collected lazily: never at registration

    def _label(self) -> dict:
        tenants = self.stats.tenants
        busiest = heapq.nlargest(self.top_n, tenants,
                                 key=lambda t: (tenants[t]["requests"] + tenants[t]["scores"], t))
        return {t: t for t in busiest}

    def collect(self):
        stats = self.stats
        label = self._label()
        requests = CounterMetricFamily("rendezvous_tenant_requests", "Requests per tenant (top "
                                       "N tenants, the rest as _other).", labels=["tenant"])
        results = CounterMetricFamily("rendezvous_tenant_results", "Results per tenant and "
                                      "decision reason.", labels=["tenant", "reason"])
        served = GaugeMetricFamily("rendezvous_served_accuracy_ratio", "Served accuracy of the "
                                   "answering model, from results joined with labels.",
                                   labels=["tenant", "model"])
        labelled = CounterMetricFamily("rendezvous_served_labelled", "Labelled results, by "
                                       "answering model.", labels=["tenant", "model"])
        online = GaugeMetricFamily("rendezvous_model_online_metric", "Progressive metric of each "
                                   "model on its training stream (accuracy, mae), weighted by "
                                   "examples for _other.", labels=["tenant", "model", "role",
                                                                   "metric"])
        req, res = {}, {}
        for tenant, counts in list(stats.tenants.items()):
            who = label.get(tenant, OTHER)
            if counts["requests"]:
                req[who] = req.get(who, 0) + counts["requests"]
            for key, n in counts.items():
                if key.startswith("results."):
                    k = (who, key[len("results."):])
                    res[k] = res.get(k, 0) + n
        acc = {}
        for tenant, s in list(stats.served.items()):
            who = label.get(tenant, OTHER)
            for model, (n, correct) in list(s.by_model.items()):
                tally = acc.setdefault((who, model), [0, 0])
                tally[0] += n
                tally[1] += correct
        metric = {}
        for tenant, models in list(stats.models.items()):
            who = label.get(tenant, OTHER)
            for model, m in list(models.items()):
                n = m.get("n") or 0
                for name in ("accuracy", "mae"):
                    value = m.get(name)
                    if isinstance(value, (int, float)) and n:
                        tally = metric.setdefault((who, model, m.get("role", ""), name), [0, 0.0])
                        tally[0] += n
                        tally[1] += value * n
        for who, n in req.items():
            requests.add_metric([who], n)
        for (who, reason), n in res.items():
            results.add_metric([who, reason], n)
        for (who, model), (n, correct) in acc.items():
            labelled.add_metric([who, model], n)
            served.add_metric([who, model], correct / n if n else math.nan)
        for key, (n, total) in metric.items():
            online.add_metric(list(key), total / n)
        yield from (requests, results, served, labelled, online)
