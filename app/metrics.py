"""Prometheus metrics of one worker, on a registry of its own (several apps can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
