"""The one exception that decoding raises."""

from __future__ import annotations

__all__ = ["InvalidRecord"]


class InvalidRecord(ValueError):
    """A payload that is not a valid record of the kind asked for.

    Decoding raises this and nothing else, whatever the bytes, so an agent can
    route every bad input to the dead-letter topic with a single ``except``.

    Parameters
    ----------
    reason : str
        What is wrong, for a human: ``"features.amount: not a finite number (inf)"``.
    field : str or None
        Dotted path of the offending field, or None when the payload as a
        whole is at fault (size, encoding, not JSON, not an object).

    Examples
    --------
    >>> err = InvalidRecord("missing field: tenant", field="tenant")
    >>> str(err), err.field
    ('missing field: tenant', 'tenant')
    >>> isinstance(err, ValueError)
    True
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self):  # keeps pickling (e.g. across processes) lossless
        return (type(self), (self.reason, self.field))
