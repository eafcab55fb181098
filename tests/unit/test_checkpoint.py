"""Checkpoints: sealed bytes restore the exact model; anything not signed by this deployment
for this tenant, model and version is refused before a byte is unpickled."""

from __future__ import annotations

import os
import pickle
import zlib
from pathlib import Path
from unittest import mock

import pytest
from river.datasets import synth

from learning import checkpoint as ck
from learning.checkpoint import (CHUNK_BYTES, MAGIC, BadSignature, CheckpointError, StoreIndex,
                                 chunk_key, meta_key, open_sealed, seal, split, watermark_key)
from learning.deployment import ModelDeployment
from learning.progress import ModelProgress, restore, snapshot
from learning.slot import ModelSlot

KEY = "the-deployment-signing-key"
OTHER_KEY = "another-deployment-key!!"
WHO = {"tenant": "acme", "model": "tree", "version": 3}


class Payload:
    """A pickle whose loading creates a file: what an attacker would put in a checkpoint."""

    def __init__(self, sentinel: Path):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def malicious(sentinel: Path) -> bytes:
    return MAGIC + zlib.compress(pickle.dumps(Payload(sentinel)))


def trained_slot(spec: str, n: int = 300, params: dict | None = None) -> ModelSlot:
    slot = ModelSlot(ModelDeployment("m", spec, params or {}, role="champion"), "classification")
    for x, y in synth.Agrawal(seed=7).take(n):
        slot.learn(x, y)
    return slot


@pytest.fixture
def never_unpickled():
    """Fails the test if anything reaches pickle.loads inside learning.checkpoint."""
    with mock.patch.object(ck.pickle, "loads", side_effect=AssertionError("unpickled")) as spy:
        yield spy
    assert spy.call_count == 0


# --- the malicious payload is live: without the signature check it would run ---------------------

def test_the_malicious_payload_runs_when_unpickled(tmp_path):
    sentinel = tmp_path / "control-sentinel"
    pickle.loads(zlib.decompress(malicious(sentinel)[len(MAGIC):]))
    assert sentinel.exists()


# --- rejected before unpickling --------------------------------------------------------------------

@pytest.mark.parametrize("signature", ["forged", "other-key", "legit-of-another-payload", "empty"])
def test_malicious_pickle_is_rejected_before_unpickling(tmp_path, never_unpickled, signature):
    sentinel = tmp_path / "sentinel"
    payload = malicious(sentinel)
    sig = {"forged": "ab" * 32,
           "other-key": ck.sign(payload, key=OTHER_KEY, **WHO),
           "legit-of-another-payload": seal({"ok": 1}, key=KEY, **WHO).signature,
           "empty": ""}[signature]
    with pytest.raises(BadSignature, match="^checkpoint acme/tree v3: signature does not verify$"):
        open_sealed(payload, sig, key=KEY, **WHO)
    assert not sentinel.exists()


@pytest.mark.parametrize("where", [0, 1, 2, 3, 4, 100, -1])
def test_a_flipped_byte_anywhere_is_rejected(tmp_path, never_unpickled, where):
    sentinel = tmp_path / "sentinel"
    payload = bytearray(malicious(sentinel))
    sealed_sig = ck.sign(bytes(payload), key=KEY, **WHO)  # validly signed ...
    payload[where] ^= 0x01  # ... then one bit flipped in storage
    with pytest.raises(BadSignature):
        open_sealed(bytes(payload), sealed_sig, key=KEY, **WHO)
    assert not sentinel.exists()


def test_a_flipped_signature_byte_is_rejected(tmp_path, never_unpickled):
    sealed = seal({"ok": 1}, key=KEY, **WHO)
    sig = ("0" if sealed.signature[0] != "0" else "1") + sealed.signature[1:]
    with pytest.raises(BadSignature):
        open_sealed(sealed.payload, sig, key=KEY, **WHO)


def test_signed_with_another_key_is_rejected(tmp_path, never_unpickled):
    sentinel = tmp_path / "sentinel"
    payload = malicious(sentinel)
    with pytest.raises(BadSignature):
        open_sealed(payload, ck.sign(payload, key=OTHER_KEY, **WHO), key=KEY, **WHO)
    assert not sentinel.exists()


@pytest.mark.parametrize("renamed", [{"tenant": "globex"}, {"model": "logreg"}, {"version": 4},
                                     {"version": 2}])
def test_another_tenants_or_a_renamed_checkpoint_is_rejected(tmp_path, never_unpickled, renamed):
    """Signed by this deployment, but for another tenant, model or version."""
    sentinel = tmp_path / "sentinel"
    payload = malicious(sentinel)
    signature = ck.sign(payload, key=KEY, **WHO)
    with pytest.raises(BadSignature):
        open_sealed(payload, signature, key=KEY, **{**WHO, **renamed})
    assert not sentinel.exists()


def test_the_same_bytes_verify_for_their_own_tenant_model_and_version(tmp_path):
    sealed = seal({"w": [1.5]}, key=KEY, **WHO)
    assert open_sealed(sealed.payload, sealed.signature, key=KEY, **WHO) == {"w": [1.5]}
    assert open_sealed(bytearray(sealed.payload), sealed.signature, key=KEY.encode(),
                       **WHO) == {"w": [1.5]}


def test_signed_but_unknown_format_is_refused_without_unpickling(never_unpickled):
    payload = b"XXXX" + zlib.compress(pickle.dumps(1))
    with pytest.raises(CheckpointError, match="unknown format"):
        open_sealed(payload, ck.sign(payload, key=KEY, **WHO), key=KEY, **WHO)


# --- exact restore of every model kind ------------------------------------------------------------

@pytest.mark.parametrize("spec, params", [("logreg", {}), ("hoeffding", {"grace_period": 50}),
                                          ("arf", {"n_models": 3}), ("baseline", {})])
def test_restored_model_predicts_and_learns_exactly_like_the_original(spec, params):
    slot = trained_slot(spec, params=params)
    progress = ModelProgress(offset=299, predictions=300)
    sealed = seal(snapshot(slot, progress), key=KEY, tenant="acme", model="m", version=1)
    back, p = restore(open_sealed(sealed.payload, sealed.signature, key=KEY, tenant="acme",
                                  model="m", version=1), "classification", slot.deployment)
    assert (p.offset, p.predictions) == (299, 300)
    assert back.metrics() == slot.metrics()
    for x, y in synth.Agrawal(seed=8).take(200):
        assert back.model.predict_proba_one(x) == slot.model.predict_proba_one(x)
        back.learn(x, y)
        slot.learn(x, y)
        assert back.last_prediction == slot.last_prediction
    assert back.metrics() == slot.metrics()


# --- the store: chunks, versions, pruning --------------------------------------------------------

def test_a_multi_chunk_payload_reassembles_only_when_complete():
    sealed = seal(os.urandom(CHUNK_BYTES * 2 + 10), key=KEY, **WHO)
    chunks = split(sealed.payload)
    assert [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, len(sealed.payload) - 2 * CHUNK_BYTES]
    index = StoreIndex()
    meta = {"version": 3, "size_bytes": sealed.size, "signature": sealed.signature,
            "training_offset": 9}
    index.add(meta_key("acme", "tree", 3), meta)
    for i in (2, 0):  # order does not matter; completeness does
        index.add(chunk_key("acme", "tree", 3, i), chunks[i])
    assert index.payload("acme", "tree", 3) is None
    index.add(chunk_key("acme", "tree", 3, 1), chunks[1])
    assert index.payload("acme", "tree", 3) == sealed.payload


def _store(versions, tamper=()):
    index = StoreIndex()
    for v in versions:
        sealed = seal({"v": v}, key=KEY, tenant="acme", model="tree", version=v)
        payload = sealed.payload
        if v in tamper:
            payload = payload[:-1] + bytes([payload[-1] ^ 1])
        for i, c in enumerate(split(payload, size=16)):
            index.add(chunk_key("acme", "tree", v, i), c)
        index.add(meta_key("acme", "tree", v), {"version": v, "size_bytes": len(payload),
                                                "signature": sealed.signature})
    return index


def _opener(payload, meta):
    return open_sealed(payload, meta["signature"], key=KEY, tenant="acme", model="tree",
                       version=meta["version"])


def test_latest_verified_falls_back_past_a_tampered_version():
    index = _store([1, 2, 3], tamper={3})
    rejected = []
    meta, state = index.latest_verified("acme", "tree", _opener,
                                        lambda v, e: rejected.append((v, type(e).__name__)))
    assert (meta["version"], state) == (2, {"v": 2})
    assert rejected == [(3, "BadSignature")]


def test_latest_verified_falls_back_past_an_incomplete_version():
    index = _store([1, 2])
    index.add(chunk_key("acme", "tree", 2, 0), None)  # a tombstoned (or lost) chunk
    rejected = []
    meta, _ = index.latest_verified("acme", "tree", _opener, lambda v, e: rejected.append(v))
    assert meta["version"] == 1 and rejected == [2]


def test_nothing_verifies_gives_none():
    index = _store([1], tamper={1})
    assert index.latest_verified("acme", "tree", _opener) is None


def test_expired_versions_and_tombstones():
    index = _store([1, 2, 3, 4])
    expired = index.expired("acme", "tree", keep=2)
    assert [v for v, _ in expired] == [1, 2]
    for v, chunks in expired:
        index.add(meta_key("acme", "tree", v), None)
        for i in chunks:
            index.add(chunk_key("acme", "tree", v, i), None)
    assert index.versions("acme", "tree") == [3, 4]
    assert set(index.chunks) == {("acme", "tree", 3), ("acme", "tree", 4)}
    assert index.last_version("acme", "tree") == 4


def test_watermarks_and_unknown_keys():
    index = StoreIndex()
    index.add(watermark_key("fast", 2), 41)
    index.add(watermark_key("heavy", 2), 97)
    index.add(b'["replay-from",2]', 5)  # the old, pool-less key: ignored, replay everything
    index.add(b"acme", b"something else")
    index.add(b'["meta","acme"]', {})
    assert index.watermarks == {("fast", 2): 41, ("heavy", 2): 97}
    assert index.metas == {} and index.chunks == {}
    index.add(watermark_key("heavy", 2), None)
    assert index.watermarks == {("fast", 2): 41}
