"""The fuzz corpus is what it claims: bad records fail validation, valid ones pass."""

from collections import Counter

import pytest

from harness.fuzz import corpus
from schemas import Event, InvalidRecord, Limits, decode

LIMITS = Limits()


def classify(record) -> bool:
    """True when enrich must dead-letter it (the validator, plus the key rule)."""
    try:
        event = decode(Event, record.value, LIMITS)
    except InvalidRecord:
        return True
    return record.key != event.tenant.encode()


def test_every_bad_record_is_rejected_and_every_valid_one_accepted():
    records = corpus(3000, seed=11)
    assert [classify(r) for r in records] == [r.bad for r in records]
    operators = Counter(r.operator for r in records if r.bad)
    assert len(operators) == 20  # every mutation operator is exercised
    assert len({r.request_id for r in records if not r.bad}) == sum(not r.bad for r in records)


@pytest.mark.parametrize("seed", [1, 2])
def test_corpus_is_deterministic_but_for_timestamps(seed):
    a, b = corpus(200, seed=seed), corpus(200, seed=seed)
    assert [(r.key, r.bad, r.operator, r.request_id) for r in a] == [
        (r.key, r.bad, r.operator, r.request_id) for r in b]
