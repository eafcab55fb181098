"""Building dead-letter records and their Kafka Connect style headers."""

from __future__ import annotations

from .records import MAX_ERROR_CHARS, MAX_NAME_CHARS, MAX_VALUE_CHARS, DeadLetter

__all__ = ["dead_letter_for", "dead_letter_headers"]


def _text(raw: bytes | str | None, limit: int) -> str:
    # backslashreplace keeps undecodable bytes visible as \xNN; the round trip
    # through UTF-8 also turns lone surrogates (which JSON encoders cannot write)
    # into escapes.
    if raw is None:
        return ""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "backslashreplace")
    return raw.decode("utf-8", "backslashreplace")[:limit]


def _describe(error: BaseException) -> tuple[str, str]:
    cls = type(error)
    try:
        message = str(error)
    except Exception:  # a broken __str__ must not lose the dead letter
        message = f"<unprintable {cls.__name__}>"
    return f"{cls.__module__}.{cls.__qualname__}", message


def dead_letter_for(
    origin_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: BaseException,
    stage: str,
    now: float,
) -> DeadLetter:
    """The dead letter for a message that failed at `stage`.

    Parameters
    ----------
    origin_topic, partition, offset : str, int, int
        Where the message came from (-1 for partition and offset when it did
        not come from a topic).
    key, value : bytes or None
        The message as received; kept as UTF-8 text (bad bytes as ``\\xNN``),
        truncated. A None value (tombstone) becomes "".
    error : BaseException
        What went wrong; its fully qualified class name and message are kept.
    stage : str
        Where it failed: "decode", "validate", "enrich", "score", ...
    now : float
        Epoch seconds, passed in so callers control the clock.

    Returns
    -------
    DeadLetter
        A record that always encodes, and decodes under the default `Limits`
        (at most about 40 KB, whatever the input).

    Examples
    --------
    >>> dl = dead_letter_for("events", 3, 42, b"acme", b"\\xff{", ValueError("bad"), "decode", 9.0)
    >>> dl.value, dl.error_class, dl.error
    ('\\\\xff{', 'builtins.ValueError', 'bad')
    """
    error_class, message = _describe(error)
    return DeadLetter(
        origin_topic=_text(origin_topic, MAX_NAME_CHARS),
        partition=partition,
        offset=offset,
        value=_text(value, MAX_VALUE_CHARS),
        error_class=_text(error_class, MAX_NAME_CHARS),
        error=_text(message, MAX_ERROR_CHARS),
        stage=_text(stage, MAX_NAME_CHARS),
        failed_at=now,
        key=None if key is None else _text(key, MAX_NAME_CHARS),
    )


def dead_letter_headers(dl: DeadLetter) -> list[tuple[str, bytes]]:
    """Kafka Connect's error headers for a dead letter.

    Tools that understand Connect's dead-letter queues can then show where a
    record came from without parsing it.

    >>> dl = dead_letter_for("events", 3, 42, None, b"x", ValueError("bad"), "decode", 9.0)
    >>> dead_letter_headers(dl)[:2]
    [('__connect.errors.topic', b'events'), ('__connect.errors.partition', b'3')]
    """
    def utf8(text: str) -> bytes:
        # A hand-built record may hold lone surrogates; headers must not fail.
        return text.encode("utf-8", "backslashreplace")

    return [
        ("__connect.errors.topic", utf8(dl.origin_topic)),
        ("__connect.errors.partition", utf8(str(dl.partition))),
        ("__connect.errors.offset", utf8(str(dl.offset))),
        ("__connect.errors.exception.class.name", utf8(dl.error_class)),
        ("__connect.errors.exception.message", utf8(dl.error)),
        ("__connect.errors.stage", utf8(dl.stage)),
    ]
