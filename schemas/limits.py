"""Size limits that decoding enforces."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "PAYLOAD_FACTOR"]

#: How many times ``max_payload_bytes`` a kind may take, for kinds that are not
#: written by outside producers. An ``enriched`` record combines an event with
#: entity state, aggregates, global context and the deployment, each bounded by
#: roughly one payload, so it gets 6; ``training`` wraps one enriched record
#: (+1 for its envelope); ``decoy-log`` carries the enriched JSON as an escaped
#: string, which at worst doubles it (2 * 6, +2 for the model versions).
#: 14 * 64 KiB stays under Kafka's default 1 MiB message size.
PAYLOAD_FACTOR: dict[str, int] = {"enriched": 6, "training": 7, "decoy-log": 14}


@dataclass(frozen=True)
class Limits:
    """Bounds on what a record may contain.

    Parameters
    ----------
    max_payload_bytes : int
        Largest encoded record accepted from outside producers; internally
        derived kinds get a multiple of it (see `payload_limit`).
    max_features : int
        Most entries in any ``dict[str, float]`` (features, state, ...).
    max_string_len : int
        Longest identifier (tenant, ids, names, feature names) or string label.

    Examples
    --------
    >>> Limits().payload_limit("events"), Limits().payload_limit("enriched")
    (65536, 393216)
    """

    max_payload_bytes: int = 65536
    max_features: int = 256
    max_string_len: int = 256

    def payload_limit(self, kind: str) -> int:
        """Largest payload in bytes for the topic base name `kind`."""
        return self.max_payload_bytes * PAYLOAD_FACTOR.get(kind, 1)
