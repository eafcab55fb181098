"""One settings dataclass, read from ``RENDEZVOUS_*`` environment variables.

Each field's metadata holds its documentation; ``Settings.from_env`` names the variable
in every error, so a typo in a deployment fails at start-up with a reason.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

from kafka_io import bootstrap_of

PREFIX = "RENDEZVOUS_"
NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable."""


def _doc(text: str, **kw):
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Settings:
    broker: str = _doc("Kafka bootstrap URL(s), e.g. kafka://127.0.0.1:19092.",
                       default="kafka://127.0.0.1:19092")
    env: str = _doc("Environment name (prod, staging, ...): prefixes every topic and the app id, "
                    "so staging never reads or writes production topics.", default="prod")
    role: str = _doc("What this worker runs: 'serving' (enrich, rendezvous, decoy, labels, control) "
                     "or the name of a model pool (score and learn for the models deployed to it).",
                     default="serving")
    partitions: int = _doc("Partition count of every tenant-keyed topic (they are co-partitioned).",
                           default=4)
    store: str = _doc("Faust table store URL: memory:// (tables rebuilt from changelogs) or rocksdb://.",
                      default="memory://")
    web_host: str = _doc("Interface of the worker's web server (metrics, control API).",
                         default="127.0.0.1")
    web_port: int = _doc("Port of the worker's web server.", default=6066)
    producer_linger_ms: float = _doc("How long the producer waits to batch records into one request, "
                                     "in ms: 0 sends each record alone (lowest latency at low load); "
                                     "a few ms doubles throughput under load.", default=2.0)
    session_timeout_s: float = _doc("Kafka consumer-group session timeout, in seconds: how soon a "
                                    "crashed worker's tenants move to the others.", default=10.0)
    stall_after_s: float = _doc("Seconds a held partition may have records waiting without any "
                                "progress (no commit, no fetch) before the worker logs it as "
                                "stalled, counts it in rendezvous_partition_stalls and re-reads "
                                "it from its committed offset.", default=30.0)
    deadline_ms: float = _doc("Default rendezvous deadline for tenants without a policy, in ms.",
                              default=50.0)
    signing_key: str = _doc("HMAC key that signs model checkpoints; at least 16 characters. "
                            "Checkpoints not signed with it are never unpickled.",
                            default="rendezvous-dev-signing-key")
    api_token: str = _doc("Bearer token required by mutating HTTP endpoints; at least 16 characters.",
                          default="rendezvous-dev-api-token")
    max_payload_bytes: int = _doc("Largest accepted record, in bytes; larger ones are dead-lettered.",
                                  default=65536)
    max_features: int = _doc("Most features an event may carry.", default=256)
    max_string_len: int = _doc("Longest identifier or string value (tenant, entity, feature name).",
                               default=256)
    task: str = _doc("Learning task of the default deployment: classification or regression.",
                     default="classification")
    default_deployment: str = _doc("JSON deployment given to new tenants; empty = the built-in "
                                   "default for the task (logreg champion, hoeffding challenger, "
                                   "baseline canary).", default="")
    deployments_file: str = _doc("Optional JSON file mapping tenant -> deployment, applied before "
                                 "any control command (deployments kept in git).", default="")
    unknown_tenants: str = _doc("What happens to events of a tenant with no deployment: 'default' "
                                "(deploy the default) or 'dead-letter'.", default="default")
    label_ttl_s: float = _doc("How long enriched features wait for a delayed label, in seconds.",
                              default=3600.0)
    label_wait_s: float = _doc("How long a label that overtook its event waits for it before it "
                               "is dead-lettered as unmatched, in seconds.", default=60.0)
    dedupe_window_s: float = _doc("How long an answered request id is remembered, in seconds, so "
                                  "that an event redelivered after a crash is not answered twice.",
                                  default=600.0)
    aggregate_window_s: float = _doc("Window of the rolling per-entity aggregates, in seconds.",
                                     default=300.0)
    accept_replayed: bool = _doc("Enrich replayed events (``replay`` field: production's state, "
                                 "aggregates and context) with exactly that state; for staging. "
                                 "Off: such events are dead-lettered.", default=False)
    drift_warmup: int = _doc("Errors a model makes before its drift detector starts watching "
                             "(its learning curve is not drift).", default=1000)
    drift_responses: str = _doc("JSON object tenant -> drift response policy, '*' for all others, "
                                "e.g. {\"*\": {\"action\": \"alert\"}, \"acme\": {\"action\": "
                                "\"promote\", \"margin\": 0.02}}; actions: alert, reset, promote, "
                                "rollback. Empty: alert only.", default="")
    data_dir: str = _doc("Directory for the worker's local data (table stores).", default="var/data")
    metrics_tenant_labels: int = _doc("Prometheus tenant label: the N busiest tenants get their own "
                                      "series, all others are summed as tenant=\"_other\" "
                                      "(0 = no per-tenant series), so 10,000 tenants stay cheap.",
                                      default=10)
    rollback_min_scores: int = _doc("Scores a newly deployed or promoted model gives before its "
                                    "error-score rate is judged against the model it replaced.",
                                    default=20)
    rollback_error_margin: float = _doc("A new model whose error-score rate exceeds the replaced "
                                        "model's by at least this much is rolled back "
                                        "automatically; in (0, 1].", default=0.5)
    checkpoint_every_n: int = _doc("A model of a pool is checkpointed after this many trained "
                                   "records (and every RENDEZVOUS_CHECKPOINT_EVERY_S, and on "
                                   "graceful shutdown); recovery replays at most about this many "
                                   "records per model.", default=1000)
    checkpoint_every_s: float = _doc("A model with records trained since its last checkpoint is "
                                     "checkpointed at least this often, in seconds.", default=60.0)
    checkpoint_keep: int = _doc("Checkpoint versions kept per (tenant, model) in the compacted "
                                "checkpoints topic: the versions a rollback can restore.",
                                default=5)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Read every field from ``RENDEZVOUS_<FIELD>``; unset variables keep their default."""
        environ = os.environ if environ is None else environ
        known = {env_var(f.name) for f in fields(cls)}
        unknown = sorted(v for v in environ if v.startswith(PREFIX) and v not in known)
        if unknown:
            # A misspelt RENDEZVOUS_PARTITION would silently break co-partitioning.
            raise SettingsError(f"{unknown[0]}: not a setting (known: {', '.join(sorted(known))})")
        values = {}
        for f in fields(cls):
            var = env_var(f.name)
            if var not in environ:
                continue
            raw = environ[var]
            try:
                values[f.name] = _parse(f.type, raw)
            except ValueError:
                raise SettingsError(f"{var}={raw!r}: not a valid {f.type}") from None
        return cls(**values)

    def __post_init__(self) -> None:
        def bad(name: str, why: str):
            raise SettingsError(f"{env_var(name)}={getattr(self, name)!r}: {why}")

        if not self.broker.startswith(("kafka://", "aiokafka://")):
            bad("broker", "must start with kafka://")
        if not NAME.match(self.env):
            bad("env", "must be lowercase letters, digits and dashes, starting with a letter")
        if not NAME.match(self.role):
            bad("role", "must be 'serving' or a pool name (lowercase letters, digits, dashes)")
        if not 1 <= self.partitions <= 1024:
            bad("partitions", "must be between 1 and 1024")
        if not self.store.startswith(("memory://", "rocksdb://")):
            bad("store", "must be memory:// or rocksdb://")
        if not 0 <= self.web_port <= 65535:
            bad("web_port", "must be a TCP port")
        if not 0 <= self.producer_linger_ms <= 1000:
            bad("producer_linger_ms", "must be between 0 and 1000")
        if not 3 <= self.session_timeout_s <= 300:
            bad("session_timeout_s", "must be between 3 and 300 seconds")
        if not 5 <= self.stall_after_s <= 3600:
            bad("stall_after_s", "must be between 5 and 3600 seconds")
        if not 0 < self.deadline_ms <= 60_000:
            bad("deadline_ms", "must be in (0, 60000]")
        for secret in ("signing_key", "api_token"):
            if len(getattr(self, secret)) < 16:
                raise SettingsError(f"{env_var(secret)}: must be at least 16 characters")
        if not 256 <= self.max_payload_bytes <= 16 * 2**20:
            bad("max_payload_bytes", "must be between 256 and 16 MiB")
        if not 1 <= self.max_features <= 10_000:
            bad("max_features", "must be between 1 and 10000")
        if not 8 <= self.max_string_len <= 10_000:
            bad("max_string_len", "must be between 8 and 10000")
        if self.task not in ("classification", "regression"):
            bad("task", "must be classification or regression")
        if self.unknown_tenants not in ("default", "dead-letter"):
            bad("unknown_tenants", "must be 'default' or 'dead-letter'")
        if not (self.label_ttl_s > 0 and math.isfinite(self.label_ttl_s)):
            bad("label_ttl_s", "must be a positive finite number")
        if not (self.label_wait_s > 0 and math.isfinite(self.label_wait_s)):
            bad("label_wait_s", "must be a positive finite number")
        if not (self.dedupe_window_s > 0 and math.isfinite(self.dedupe_window_s)):
            bad("dedupe_window_s", "must be a positive finite number")
        if not (self.aggregate_window_s > 0 and math.isfinite(self.aggregate_window_s)):
            bad("aggregate_window_s", "must be a positive finite number")
        if not 0 <= self.metrics_tenant_labels <= 1000:
            bad("metrics_tenant_labels", "must be between 0 and 1000")
        if not 1 <= self.rollback_min_scores <= 1_000_000:
            bad("rollback_min_scores", "must be between 1 and 1000000")
        if not 0 < self.rollback_error_margin <= 1:
            bad("rollback_error_margin", "must be in (0, 1]")
        if not 1 <= self.checkpoint_every_n <= 10_000_000:
            bad("checkpoint_every_n", "must be between 1 and 10000000")
        if not (self.checkpoint_every_s > 0 and math.isfinite(self.checkpoint_every_s)):
            bad("checkpoint_every_s", "must be a positive finite number")
        if not 1 <= self.checkpoint_keep <= 1000:
            bad("checkpoint_keep", "must be between 1 and 1000")
        if not 0 <= self.drift_warmup <= 10_000_000:
            bad("drift_warmup", "must be between 0 and 10000000")
        if self.drift_responses:
            from learning.drift_response import ResponsePolicy
            import orjson

            try:
                policies = orjson.loads(self.drift_responses)
                if not isinstance(policies, dict):
                    raise ValueError("must be a JSON object tenant -> policy")
                for policy in policies.values():
                    ResponsePolicy.from_dict(policy)
            except (orjson.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
                raise SettingsError(f"{env_var('drift_responses')}: {exc}") from None
        if self.deployments_file:
            self._check_deployments("deployments_file")
        if self.default_deployment:
            self._check_deployments("default_deployment")

    def _check_deployments(self, name: str) -> None:
        import orjson

        from learning.deployment import Deployment, DeploymentError
        from schemas import TENANT_RULE, is_tenant_id

        try:
            if name == "deployments_file":
                try:
                    raw = Path(self.deployments_file).read_bytes()
                except OSError as exc:
                    raise ValueError(f"cannot read it: {exc.strerror}") from None
                per_tenant = orjson.loads(raw)
                if not isinstance(per_tenant, dict):
                    raise ValueError("must be a JSON object mapping tenant -> deployment")
                bad_tenants = sorted(t for t in per_tenant if not is_tenant_id(t))
                if bad_tenants:
                    raise ValueError(f"tenant {bad_tenants[0]!r}: {TENANT_RULE}")
                deployments = [Deployment.from_dict(d) for d in per_tenant.values()]
            else:
                deployments = [Deployment.from_dict(orjson.loads(self.default_deployment))]
        except (orjson.JSONDecodeError, DeploymentError, TypeError, ValueError) as exc:
            raise SettingsError(f"{env_var(name)}: {exc}") from None
        if name == "default_deployment" and deployments[0].task != self.task:
            raise SettingsError(f"{env_var(name)}: its task {deployments[0].task!r} is not "
                                f"{env_var('task')}={self.task!r}")

    @property
    def is_serving(self) -> bool:
        return self.role == "serving"

    @property
    def app_id(self) -> str:
        """Faust app id, hence consumer group and changelog prefix: one per env and role."""
        return f"rendezvous-{self.env}-{self.role}"

    @property
    def bootstrap(self) -> str:
        """host:port list for plain aiokafka clients (kafka_io), from ``broker``."""
        return bootstrap_of(self.broker)

    def topic(self, name: str) -> str:
        """The environment's name for a logical topic: ``prod.events``, ``staging.results``."""
        return f"{self.env}.{name}"

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir) / self.app_id

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def _parse(kind: str, raw: str):
    if kind == "float":
        return float(raw)
    if kind == "int":
        return int(raw)
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(raw)
        return lowered in ("1", "true", "yes")
    return raw


def env_var(name: str) -> str:
    return PREFIX + name.upper()


def documented() -> list[tuple[str, str, object]]:
    """(variable, documentation, default) for every setting: the README and compose use it."""
    return [(env_var(f.name), f.metadata["doc"], f.default) for f in fields(Settings)]
