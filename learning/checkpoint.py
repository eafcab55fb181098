"""Model checkpoints: sealed (pickled, compressed, HMAC-signed) bytes, their chunks in Kafka,
and the index a worker builds from the checkpoint store.

A checkpoint's bytes are ``MAGIC + zlib(pickle(state))``. Its signature is HMAC-SHA256 with
the deployment's signing key over the tenant, the model, the checkpoint version and those
bytes, so a checkpoint of another tenant or model, or one renamed to another version, fails
verification just like a flipped byte or a foreign key. `open_sealed` compares signatures
(`hmac.compare_digest`) *before* anything is decompressed or unpickled: pickle runs code,
and only this deployment's own checkpoints may reach it.

The store is one compacted, co-partitioned topic (``checkpoints``): the records of a tenant
live on the tenant's partition, keyed so that compaction keeps exactly what is needed
(see `meta_key`, `chunk_key`, `watermark_key`); dropping a version is a tombstone per key.
Blobs are cut into `CHUNK_BYTES` chunks, so a 20 MB forest needs no broker setting.

Examples
--------
>>> sealed = seal({"w": [1.0, 2.0]}, key="k" * 16, tenant="acme", model="logreg", version=3)
>>> open_sealed(sealed.payload, sealed.signature, key="k" * 16, tenant="acme", model="logreg",
...             version=3)
{'w': [1.0, 2.0]}
>>> open_sealed(sealed.payload, sealed.signature, key="k" * 16, tenant="other", model="logreg",
...             version=3)
Traceback (most recent call last):
...
learning.checkpoint.BadSignature: checkpoint other/logreg v3: signature does not verify

"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import zlib
from dataclasses import dataclass, field
from typing import Callable

import orjson

__all__ = [
    "MAGIC",
    "CHUNK_BYTES",
    "CheckpointError",
    "BadSignature",
    "Sealed",
    "seal",
    "seal_pickled",
    "sign",
    "open_sealed",
    "open_checkpoint",
    "split",
    "meta_key",
    "chunk_key",
    "watermark_key",
    "parse_key",
    "StoreIndex",
]

MAGIC = b"RZC1"  # format of the bytes after it: zlib(pickle)
CHUNK_BYTES = 512 * 1024  # well under Kafka's default 1 MB message size
_DOMAIN = b"rendezvous-checkpoint-v1\x00"


class CheckpointError(ValueError):
    """A checkpoint that cannot be restored: incomplete, malformed or not verified."""


class BadSignature(CheckpointError):
    """The signature does not match this deployment's key, tenant, model, version and bytes."""


@dataclass(frozen=True)
class Sealed:
    """Signed checkpoint bytes: ``payload`` (what is stored) and ``signature`` (lowercase hex)."""

    payload: bytes
    signature: str

    @property
    def size(self) -> int:
        return len(self.payload)


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


def sign(payload: bytes, *, key: str | bytes, tenant: str, model: str, version: int) -> str:
    """HMAC-SHA256 over (tenant, model, version, payload), as lowercase hex.

    Every part is length-prefixed, so ("ab", "c") and ("a", "bc") sign differently.

    >>> a = sign(b"x", key="k" * 16, tenant="ab", model="c", version=1)
    >>> b = sign(b"x", key="k" * 16, tenant="a", model="bc", version=1)
    >>> len(a), a == b
    (64, False)
    """
    mac = hmac.new(_key_bytes(key), digestmod=hashlib.sha256)
    mac.update(_DOMAIN)
    for part in (tenant.encode(), model.encode(), str(int(version)).encode(), payload):
        mac.update(len(part).to_bytes(8, "big"))
        mac.update(part)
    return mac.hexdigest()


def seal(state: object, *, key: str | bytes, tenant: str, model: str, version: int) -> Sealed:
    """Pickle, compress and sign `state` as checkpoint `version` of (`tenant`, `model`)."""
    return seal_pickled(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), key=key,
                        tenant=tenant, model=model, version=version)


def seal_pickled(data: bytes, *, key: str | bytes, tenant: str, model: str,
                 version: int) -> Sealed:
    """Compress and sign already pickled bytes: pools pickle on their event loop (the model
    must not change meanwhile) and do this, which releases the GIL, in a thread.

    zlib level 1: model pickles are mostly floats; higher levels took 3x the time for <1%
    (an ARF of 10k examples: 10.6 MB -> 8.7 MB).
    """
    payload = MAGIC + zlib.compress(data, 1)
    return Sealed(payload, sign(payload, key=key, tenant=tenant, model=model, version=version))


def open_sealed(payload: bytes, signature: str, *, key: str | bytes, tenant: str, model: str,
                version: int) -> object:
    """Verify, then decompress and unpickle; `BadSignature` before any byte is unpickled.

    >>> sealed = seal([1, 2], key="k" * 16, tenant="t", model="m", version=1)
    >>> flipped = sealed.payload[:-1] + bytes([sealed.payload[-1] ^ 1])
    >>> open_sealed(flipped, sealed.signature, key="k" * 16, tenant="t", model="m", version=1)
    Traceback (most recent call last):
    ...
    learning.checkpoint.BadSignature: checkpoint t/m v1: signature does not verify
    >>> open_sealed(sealed.payload, sealed.signature, key="k" * 16, tenant="t", model="m",
    ...             version=2)
    Traceback (most recent call last):
    ...
    learning.checkpoint.BadSignature: checkpoint t/m v2: signature does not verify
    """
    where = f"checkpoint {tenant}/{model} v{version}"
    expected = sign(bytes(payload), key=key, tenant=tenant, model=model, version=version)
    if not isinstance(signature, str) or not hmac.compare_digest(expected, signature):
        raise BadSignature(f"{where}: signature does not verify")
    # Verified: the bytes are ours. Only now are they decompressed and unpickled.
    if not payload.startswith(MAGIC):
        raise CheckpointError(f"{where}: unknown format")
    try:
        return pickle.loads(zlib.decompress(payload[len(MAGIC):]))
    except Exception as e:  # a bug of the writer, not an attack: the signature matched
        raise CheckpointError(f"{where}: cannot be loaded: {type(e).__name__}: {e}") from e


def open_checkpoint(payload: bytes, meta: dict, *, key: str | bytes, tenant: str,
                    model: str) -> dict:
    """The state of a checkpoint whose meta is `meta` (a ``CheckpointMeta`` as a dict):
    verified, then unpickled, and only if it is at the training offset its meta says.

    >>> state = {"progress": {"offset": 9}}
    >>> sealed = seal(state, key="k" * 16, tenant="t", model="m", version=2)
    >>> meta = {"signature": sealed.signature, "version": 2, "training_offset": 9}
    >>> open_checkpoint(sealed.payload, meta, key="k" * 16, tenant="t", model="m")
    {'progress': {'offset': 9}}
    >>> open_checkpoint(sealed.payload, {**meta, "training_offset": 8}, key="k" * 16,
    ...                 tenant="t", model="m")
    Traceback (most recent call last):
    ...
    learning.checkpoint.CheckpointError: checkpoint t/m v2: state and metadata disagree
    """
    state = open_sealed(payload, meta["signature"], key=key, tenant=tenant, model=model,
                        version=meta["version"])
    if not isinstance(state, dict) or state.get("progress", {}).get(
            "offset") != meta["training_offset"]:
        raise CheckpointError(f"checkpoint {tenant}/{model} v{meta['version']}: "
                              "state and metadata disagree")
    return state


def split(payload: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    """The chunks of `payload`, in order (at least one, even for empty bytes).

    >>> [len(c) for c in split(b"x" * 10, size=4)]
    [4, 4, 2]
    """
    return [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]


# --- keys of the checkpoint store --------------------------------------------------------------
# JSON arrays: unambiguous whatever characters tenant and model names hold.

def meta_key(tenant: str, model: str, version: int) -> bytes:
    """Key of a checkpoint's metadata record.

    >>> meta_key("acme", "logreg", 3)
    b'["meta","acme","logreg",3]'
    """
    return orjson.dumps(["meta", tenant, model, version])


def chunk_key(tenant: str, model: str, version: int, index: int) -> bytes:
    return orjson.dumps(["chunk", tenant, model, version, index])


def watermark_key(pool: str, partition: int) -> bytes:
    """Key of a pool's replay watermark for a partition (see `StoreIndex.watermarks`).

    Per pool: the pools of a deployment share the store, and one pool having saved all its
    models says nothing of another's.

    >>> watermark_key("fast", 2)
    b'["replay-from","fast",2]'
    """
    return orjson.dumps(["replay-from", pool, partition])


def parse_key(key: bytes | None) -> tuple | None:
    """("meta", tenant, model, version), ("chunk", tenant, model, version, index),
    ("replay-from", pool, partition), or None for a key that is none of these.

    >>> parse_key(chunk_key("acme", "arf", 2, 7))
    ('chunk', 'acme', 'arf', 2, 7)
    >>> parse_key(b"acme") is None
    True
    """
    try:
        parts = orjson.loads(key)
    except (orjson.JSONDecodeError, TypeError):
        return None
    shapes = {"meta": (str, str, int), "chunk": (str, str, int, int), "replay-from": (str, int)}
    if not isinstance(parts, list) or not parts or parts[0] not in shapes:
        return None
    shape = shapes[parts[0]]
    if len(parts) != 1 + len(shape) or not all(
            type(p) is t for p, t in zip(parts[1:], shape)):
        return None
    return tuple(parts)


@dataclass
class StoreIndex:
    """What a checkpoint store partition holds, built by feeding it every record in order.

    ``metas[(tenant, model)][version]`` is the metadata dict (the fields of
    `schemas.CheckpointMeta`), ``chunks[(tenant, model, version)][index]`` the chunk bytes
    (None when only its presence is known, e.g. for chunks this worker wrote),
    ``watermarks[(pool, partition)]`` the training offset after which that pool's replay must
    start: every model of the pool on the partition whose state is not in a checkpoint learnt
    only records after it.

    Examples
    --------
    >>> index = StoreIndex()
    >>> sealed = seal("state", key="k" * 16, tenant="t", model="m", version=1)
    >>> for i, c in enumerate(split(sealed.payload, size=8)):
    ...     index.add(chunk_key("t", "m", 1, i), c)
    >>> index.add(meta_key("t", "m", 1), {"version": 1, "size_bytes": sealed.size,
    ...                                   "signature": sealed.signature})
    >>> index.payload("t", "m", 1) == sealed.payload
    True
    >>> index.add(meta_key("t", "m", 1), None)  # a tombstone
    >>> index.versions("t", "m")
    []

    """

    metas: dict = field(default_factory=dict)
    chunks: dict = field(default_factory=dict)
    watermarks: dict = field(default_factory=dict)

    def add(self, key: bytes, value) -> None:
        """One store record: `value` is the parsed meta dict or watermark offset, chunk bytes,
        or None (a tombstone). Records with unknown keys are ignored."""
        parsed = parse_key(key)
        if parsed is None:
            return
        kind = parsed[0]
        if kind == "meta":
            _, tenant, model, version = parsed
            versions = self.metas.setdefault((tenant, model), {})
            if value is None:
                versions.pop(version, None)
                if not versions:
                    del self.metas[(tenant, model)]
            else:
                versions[version] = value
        elif kind == "chunk":
            _, tenant, model, version, i = parsed
            chunks = self.chunks.setdefault((tenant, model, version), {})
            if value is None:
                chunks.pop(i, None)
                if not chunks:
                    del self.chunks[(tenant, model, version)]
            else:
                chunks[i] = value
        else:
            if value is None:
                self.watermarks.pop(parsed[1:], None)
            else:
                self.watermarks[parsed[1:]] = value

    def models(self) -> list[tuple[str, str]]:
        return sorted(self.metas)

    def versions(self, tenant: str, model: str) -> list[int]:
        return sorted(self.metas.get((tenant, model), ()))

    def meta(self, tenant: str, model: str, version: int) -> dict | None:
        return self.metas.get((tenant, model), {}).get(version)

    def last_version(self, tenant: str, model: str) -> int:
        """The highest version stored (0 if none): the next checkpoint is this + 1."""
        return max(self.versions(tenant, model), default=0)

    def payload(self, tenant: str, model: str, version: int) -> bytes | None:
        """The reassembled bytes of a version, or None if its meta or a chunk is missing."""
        meta = self.meta(tenant, model, version)
        chunks = self.chunks.get((tenant, model, version), {})
        if meta is None or any(c is None for c in chunks.values()):
            return None
        payload = b"".join(chunks[i] for i in range(len(chunks)) if i in chunks)
        if len(chunks) != max(chunks, default=-1) + 1 or len(payload) != meta["size_bytes"]:
            return None
        return payload

    def latest_verified(self, tenant: str, model: str,
                        opener: Callable[[bytes, dict], object],
                        on_reject: Callable[[int, Exception], None] | None = None):
        """(meta, state) of the newest version that is complete and opens, newest first; None.

        ``opener(payload, meta)`` verifies and loads (e.g. `open_sealed` with this
        deployment's key); a version that fails is reported to `on_reject` and skipped.
        """
        for version in reversed(self.versions(tenant, model)):
            meta = self.meta(tenant, model, version)
            payload = self.payload(tenant, model, version)
            try:
                if payload is None:
                    raise CheckpointError(f"checkpoint {tenant}/{model} v{version}: incomplete")
                return meta, opener(payload, meta)
            except CheckpointError as e:
                if on_reject is not None:
                    on_reject(version, e)
        return None

    def expired(self, tenant: str, model: str, keep: int) -> list[tuple[int, list[int]]]:
        """(version, chunk indices) of the versions beyond the newest `keep`, to tombstone.

        >>> index = StoreIndex()
        >>> for v in (1, 2, 3):
        ...     index.add(chunk_key("t", "m", v, 0), None)
        ...     index.mark_written("t", "m", v, 2, {"version": v})
        >>> index.expired("t", "m", keep=2)
        [(1, [0, 1])]
        """
        versions = self.versions(tenant, model)
        old = versions[:-keep] if keep > 0 else versions
        return [(v, sorted(self.chunks.get((tenant, model, v), {}))) for v in old]

    def mark_written(self, tenant: str, model: str, version: int, n_chunks: int,
                     meta: dict) -> None:
        """Record a checkpoint this worker wrote (chunk bytes are not kept)."""
        self.chunks[(tenant, model, version)] = dict.fromkeys(range(n_chunks))
        self.metas.setdefault((tenant, model), {})[version] = meta

    def forget(self, tenant: str, model: str, version: int) -> None:
        self.metas.get((tenant, model), {}).pop(version, None)
        if not self.metas.get((tenant, model), True):
            del self.metas[(tenant, model)]
        self.chunks.pop((tenant, model, version), None)

    def drop_bytes(self) -> None:
        """Forget chunk bytes once restored (keep which chunks exist, for pruning)."""
        for k, chunks in self.chunks.items():
            self.chunks[k] = dict.fromkeys(chunks)
