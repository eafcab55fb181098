"""Dead letters: what they keep of a failed message, and their Connect headers."""

from __future__ import annotations

import pytest

from schemas import (
    DeadLetter,
    InvalidRecord,
    Limits,
    dead_letter_for,
    dead_letter_headers,
    decode,
    encode,
)

LIMITS = Limits()


class _Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no")


# key, value, error -> key, value, error_class, error
@pytest.mark.parametrize(
    "key, value, error, expected",
    [
        (
            b"acme",
            b'{"tenant": "acme"}',
            ValueError("bad"),
            ("acme", '{"tenant": "acme"}', "builtins.ValueError", "bad"),
        ),
        (
            None,
            None,
            KeyError("tenant"),
            (None, "", "builtins.KeyError", "'tenant'"),
        ),
        (
            b"\xff",
            b"ok\xfe\x00",
            InvalidRecord("ts: expected a number, got boolean", field="ts"),
            ("\\xff", "ok\\xfe\x00", "schemas.errors.InvalidRecord", "ts: expected a number, got boolean"),
        ),
        (
            b"k" * 300,
            b"v" * 5000,
            RuntimeError("e" * 1200),
            ("k" * 256, "v" * 4096, "builtins.RuntimeError", "e" * 1000),
        ),
        (
            b"",
            b"",
            RuntimeError("lone \ud800 surrogate"),
            ("", "", "builtins.RuntimeError", "lone \\ud800 surrogate"),
        ),
        (
            None,
            b"x",
            _Unprintable(),
            (None, "x", f"{__name__}._Unprintable", "<unprintable _Unprintable>"),
        ),
    ],
    ids=["plain", "tombstone", "bad utf-8", "truncated", "surrogate in message", "broken __str__"],
)
def test_dead_letter_for(key, value, error, expected):
    dl = dead_letter_for("events", 3, 42, key, value, error, "decode", 9.5)
    assert (dl.key, dl.value, dl.error_class, dl.error) == expected
    assert (dl.origin_topic, dl.partition, dl.offset, dl.stage, dl.failed_at) == (
        "events",
        3,
        42,
        "decode",
        9.5,
    )
    # Whatever went in, the dead letter must itself be writable and readable.
    assert decode("dead-letter", encode(dl), LIMITS) == dl


def test_worst_case_dead_letter_fits_the_default_payload_limit():
    # Control characters are the costliest to write: six bytes each in JSON.
    dl = dead_letter_for(
        "\x01" * 300, -1, -1, b"\x01" * 300, b"\x01" * 5000, RuntimeError("\x01" * 2000), "\x01" * 300, 0.0
    )
    assert len(encode(dl)) <= LIMITS.max_payload_bytes
    assert decode(DeadLetter, encode(dl), LIMITS) == dl


def test_dead_letter_headers():
    dl = dead_letter_for(
        "scores", 0, 7, None, b"{}", InvalidRecord("missing field: tenant", "tenant"), "validate", 1.0
    )
    assert dead_letter_headers(dl) == [
        ("__connect.errors.topic", b"scores"),
        ("__connect.errors.partition", b"0"),
        ("__connect.errors.offset", b"7"),
        ("__connect.errors.exception.class.name", b"schemas.errors.InvalidRecord"),
        ("__connect.errors.exception.message", b"missing field: tenant"),
        ("__connect.errors.stage", b"validate"),
    ]


@pytest.mark.parametrize(
    "error, stage, expected",
    [
        ("caf\u00e9", "score", [b"caf\xc3\xa9", b"score"]),
        ("lone \ud800", "enrich", [b"lone \\ud800", b"enrich"]),
    ],
    ids=["utf-8", "hand-built surrogate"],
)
def test_dead_letter_headers_are_utf8(error, stage, expected):
    dl = DeadLetter(
        origin_topic="events", partition=1, offset=2, value="", error_class="X",
        error=error, stage=stage, failed_at=0.0,
    )
    headers = dict(dead_letter_headers(dl))
    message, stage = headers["__connect.errors.exception.message"], headers["__connect.errors.stage"]
    assert [message, stage] == expected
