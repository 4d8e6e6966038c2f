"""What a batch's check-ins, shares and reviews wait for: one lock each, whatever the count."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events import CheckIn, Event, Review, Share
from shared.gate import _Wait, _waits_of
from shared.processor import Received

AT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def received(event: Event, offset: int) -> Received:
    return Received("gamify.any", 0, offset, None, event)


def test_a_batch_waits_once_for_each_camp_and_each_submission() -> None:
    events: list[Event] = [
        *(
            CheckIn(event_id=f"c{i}", occurred_at=AT, camp_id="a", student_id=f"s{i}", day=1)
            for i in range(3)
        ),
        CheckIn(event_id="c9", occurred_at=AT, camp_id="b", student_id="s1", day=1),
        Share(event_id="h1", occurred_at=AT, camp_id="a", student_id="s1", submission_id="w1"),
        Share(event_id="h2", occurred_at=AT, camp_id="a", student_id="s2", submission_id="w2"),
        Review(
            event_id="r1",
            occurred_at=AT,
            camp_id="a",
            student_id="s1",
            submission_id="w1",
            reviewer_id="s2",
            score=90,
            excellent=True,
        ),
    ]
    waits = _waits_of([received(e, n) for n, e in enumerate(events)])
    assert len(waits) == 4
    assert set(waits) == {_Wait("a", None), _Wait("b", None), _Wait("a", "w1"), _Wait("a", "w2")}
