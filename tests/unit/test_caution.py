"""Caution: the cheap way until it fails, then the careful way for the next batches."""

from __future__ import annotations

from shared.db import Caution


def test_careful_for_the_given_batches_after_each_failure() -> None:
    caution = Caution(2)
    assert [caution.careful() for _ in range(2)] == [False, False]
    caution.failed()
    assert [caution.careful() for _ in range(3)] == [True, True, False]
    caution.failed()
    caution.careful()
    caution.failed()  # a failure while careful starts the count again
    assert [caution.careful() for _ in range(3)] == [True, True, False]


def test_careful_from_the_start_when_asked() -> None:
    caution = Caution(3, careful_at_start=True)
    assert [caution.careful() for _ in range(4)] == [True, True, True, False]
