"""Hypothesis strategies for hostile input: what a buggy or malicious producer could put on
each input topic. Two families:

- `invalid_message(topic)`: bytes the contract calls invalid (malformed JSON, wrong types,
  missing fields, huge strings, out-of-range numbers, naive or absurd timestamps, ...); the
  topic's model is the final judge, so every example really is invalid.
- `strange_event(topic)`: events the contract allows but nobody expects (unknown camps and
  students, far-past and far-future days, the largest numbers in range, odd Unicode, event ids
  shared with other events).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError

from shared import topics
from shared.events import EARLIEST, LATEST

KNOWN_CAMP = "hostile-camp"
KNOWN_STUDENTS = ("ann", "ben")
COLLIDING_IDS = ("same-1", "same-2")  # a small pool, so that ids collide across examples

# The kind of every field of every input topic (beyond event_id and occurred_at).
FIELDS: dict[str, dict[str, str]] = {
    topics.CAMPS: {
        "camp_id": "id",
        "title": "text",
        "starts_on": "date",
        "days": "days",
        "timezone": "tz",
        "lessons": "lessons",
        "cohort_reminder_time": "hhmm",
        "assignments": "assignments",
    },
    topics.ENROLLMENTS: {"camp_id": "id", "student_id": "id", "display_name": "name"},
    topics.PREFERENCES: {
        "camp_id": "id",
        "student_id": "id",
        "reminder_time": "hhmm?",
        "opt_out": "bool",
    },
    topics.CHECKINS: {"camp_id": "id", "student_id": "id", "day": "days"},
    topics.LESSONS: {
        "camp_id": "id",
        "student_id": "id",
        "lesson_id": "id",
        "watched_seconds": "seconds",
        "duration_seconds": "positive_seconds",
    },
    topics.SUBMISSIONS: {
        "camp_id": "id",
        "student_id": "id",
        "submission_id": "id",
        "assignment_id": "id",
        "tier": "tier",
        "title": "text",
        "url": "url",
        "contest_entry": "bool",
    },
    topics.REVIEWS: {
        "camp_id": "id",
        "student_id": "id",
        "submission_id": "id",
        "reviewer_id": "id",
        "score": "score",
        "excellent": "bool",
    },
    topics.SHARES: {"camp_id": "id", "student_id": "id", "submission_id": "id"},
    topics.VOTES: {"camp_id": "id", "voter_id": "id", "submission_id": "id"},
    topics.REDEMPTIONS: {
        "camp_id": "id",
        "student_id": "id",
        "request_id": "id",
        "item_id": "id",
        "cost": "cost",
    },
    topics.QUESTIONS: {
        "camp_id": "id",
        "student_id": "id",
        "question_id": "id",
        "category": "category",
    },
    topics.LEAVES: {
        "camp_id": "id",
        "student_id": "id",
        "from_day": "first_day",  # edge values never put from_day after to_day
        "to_day": "last_day",
        "reason": "text",
    },
    topics.ANSWERS: {
        "camp_id": "id",
        "student_id": "id",
        "question_id": "id",
        "answerer_id": "id",
        "answerer_role": "role",
    },
}
assert set(FIELDS) == set(topics.INPUT_TOPICS)

INT_RANGES = {
    "days": (1, 366),
    "first_day": (1, 183),
    "last_day": (183, 366),
    "lessons": (0, 10_000),
    "seconds": (0, 10_000_000),
    "positive_seconds": (1, 10_000_000),
    "score": (0, 100),
    "cost": (1, 1_000_000_000),
}

ordinary = {
    "id": "x1",
    "text": "一个作品",
    "name": "小明",
    "url": "https://example.org/w",
    "date": "2026-11-20",
    "days": 5,
    "first_day": 1,
    "last_day": 366,
    "lessons": 3,
    "tz": "Asia/Shanghai",
    "hhmm": "20:00",
    "hhmm?": None,
    "bool": False,
    "seconds": 300,
    "positive_seconds": 600,
    "tier": "basic",
    "score": 80,
    "cost": 10,
    "assignments": [
        {"assignment_id": "w1", "tier": "practice", "due_day": 1}
    ],  # any camp has day 1
    "category": "howto",
    "role": "teacher",
}
CHOICES = {
    "tier": ("basic", "practice", "challenge"),
    "category": ("content", "howto", "extension"),
    "role": ("teacher", "assistant", "student"),
}


def plain_event(
    topic: str, event_id: str, camp_id: str = KNOWN_CAMP, student_id: str = "ann"
) -> dict[str, Any]:
    """An ordinary valid event of `topic` (the base that hostile examples start from)."""
    event: dict[str, Any] = {"event_id": event_id, "occurred_at": "2026-11-22T20:05:00+08:00"}
    for name, kind in FIELDS[topic].items():
        event[name] = ordinary[kind]
    event["camp_id"] = camp_id
    if topic == topics.CHECKINS:  # made on the day it is for (a future day counts nowhere)
        event["occurred_at"] = f"{date(2026, 11, 19) + timedelta(days=event['day'])}T20:05:00+08:00"
    for who in ("student_id", "voter_id"):
        if who in event:
            event[who] = student_id
    return event


def is_valid(topic: str, raw: bytes) -> bool:
    try:
        topics.MODELS[topic].model_validate_json(raw)
    except ValidationError:
        return False
    return True


# ---- values ----

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
huge_strings = st.integers(min_value=129, max_value=200_000).map(lambda n: "龍" * n)
not_strings = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.text(), max_size=2),
)
not_ints = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers().map(str),
    st.lists(st.integers(), max_size=2),
)


def naive_or_absurd_timestamps() -> st.SearchStrategy[Any]:
    aware = st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
    outside = aware.filter(lambda d: not EARLIEST <= d < LATEST).map(lambda d: d.isoformat())
    naive = st.datetimes(min_value=datetime(1971, 1, 1)).map(lambda d: d.isoformat())
    return st.one_of(
        naive,  # no offset: invalid by contract
        outside,  # far past, far future
        st.sampled_from(["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-22T25:00:00+08:00"]),
        st.integers(min_value=-(10**15), max_value=10**15),  # epoch numbers are not RFC 3339
        not_strings,
    )


def invalid_value(kind: str) -> st.SearchStrategy[Any]:
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        return st.one_of(
            not_ints,
            st.integers(max_value=low - 1),  # negative and below range
            st.integers(min_value=high + 1),  # enormous
        )
    if kind == "bool":
        return st.one_of(st.integers(), st.sampled_from(["true", "false", "yes", ""]), st.none())
    if kind in ("hhmm", "hhmm?"):
        bad = st.sampled_from(["24:00", "7:30", "20:60", "2000", "20:00:00", "", "noon"])
        return st.one_of(bad, st.integers()) if kind == "hhmm?" else st.one_of(bad, not_strings)
    if kind == "tz":
        return st.one_of(
            st.sampled_from(["Mars/Base", "../../etc/passwd", "", "UTC+8"]), not_strings
        )
    if kind in CHOICES:
        return st.one_of(
            st.text(max_size=12).filter(lambda t: t not in CHOICES[kind]),
            not_strings,
        )
    if kind == "assignments":
        one = {"assignment_id": "w1", "tier": "practice", "due_day": 3}
        return st.one_of(
            not_strings.filter(lambda v: not isinstance(v, list)),
            st.sampled_from(
                [
                    [{**one, "due_day": 0}],
                    [{**one, "due_day": 6}],  # after the camp's last day (days: 5)
                    [one, one],  # listed twice
                    [{**one, "tier": "homework"}],
                    [{"assignment_id": "w1", "tier": "basic"}],
                    [{**one, "due_day": "3"}],
                    ["w1"],
                ]
            ),
        )
    if kind == "date":
        return st.one_of(
            st.sampled_from(["1969-12-31", "2200-01-01", "9999-12-31", "0001-01-01", "2026-02-30"]),
            st.integers(),
            not_strings,
        )
    return st.one_of(
        not_strings,
        huge_strings,
        st.just("a\x00b"),  # PostgreSQL text cannot hold NUL
        st.just("") if kind in ("id", "name") else st.nothing(),
    )


# ---- messages ----


@st.composite
def invalid_message(draw: st.DrawFn, topic: str) -> bytes:
    """One message the contract calls invalid, for `topic`."""
    base = plain_event(topic, draw(st.sampled_from(["h-1", "h-2", *COLLIDING_IDS])))
    how = draw(
        st.sampled_from(
            [
                "garbage",
                "not-object",
                "missing",
                "wrong-field",
                "wrong-id",
                "time",
                "extra-and-wrong",
            ]
        )
    )
    if how == "garbage":
        raw = draw(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
    elif how == "not-object":
        raw = json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict)))).encode()
    elif how == "missing":
        field = draw(st.sampled_from(sorted(base)))
        raw = json.dumps({k: v for k, v in base.items() if k != field}).encode()
    elif how in ("wrong-field", "extra-and-wrong"):
        field, kind = draw(st.sampled_from(sorted(FIELDS[topic].items())))
        event = {**base, field: draw(invalid_value(kind))}
        if how == "extra-and-wrong":
            event["unexpected"] = draw(json_values)  # ignored, but does not save it
        raw = json.dumps(event).encode()
    elif how == "wrong-id":
        raw = json.dumps({**base, "event_id": draw(invalid_value("id"))}).encode()
    else:
        raw = json.dumps({**base, "occurred_at": draw(naive_or_absurd_timestamps())}).encode()
    if draw(st.booleans()) and raw[:1] == b"{":
        raw = raw[: draw(st.integers(min_value=1, max_value=max(1, len(raw) - 1)))]  # truncated
    return raw if not is_valid(topic, raw) else b'{"broken":'  # the model is the judge


unicode_ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=128,
)


@st.composite
def strange_event(draw: st.DrawFn, topic: str) -> dict[str, Any]:
    """One valid event with values at the edges of what the contract allows."""
    camp = draw(st.sampled_from([KNOWN_CAMP, "never-announced", "x" * 128]) | unicode_ids)
    student = draw(st.sampled_from([*KNOWN_STUDENTS, "stranger"]) | unicode_ids)
    event_id = draw(st.sampled_from(COLLIDING_IDS) | unicode_ids)
    event = plain_event(topic, event_id, camp, student)
    moment = draw(
        st.datetimes(
            min_value=EARLIEST.replace(tzinfo=None) + timedelta(days=1),
            max_value=LATEST.replace(tzinfo=None) - timedelta(days=1),
            timezones=st.sampled_from(
                [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))]
            ),
        )
    )
    event["occurred_at"] = moment.isoformat()
    for field, kind in FIELDS[topic].items():
        if field in ("camp_id", "student_id", "voter_id") or not draw(st.booleans()):
            continue
        event[field] = draw(edge_value(kind))
    return event


def edge_value(kind: str) -> st.SearchStrategy[Any]:
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        return st.sampled_from([low, high]) | st.integers(min_value=low, max_value=high)
    if kind == "id":
        return st.sampled_from(["x" * 128, "'; DROP TABLE ledger; --", "同一个"]) | unicode_ids
    if kind in ("text", "name"):
        # Lone surrogates ("\ud800") are not valid JSON text: such a message is invalid input
        # (dead-lettered), not a strange valid event.
        return st.text(
            st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
            min_size=1,
            max_size=200,
        )
    if kind == "date":
        return st.sampled_from(["1970-01-01", "2199-12-31", "2026-11-20"])
    if kind == "tz":
        return st.sampled_from(["Pacific/Kiritimati", "Pacific/Niue", "UTC", "Asia/Kathmandu"])
    if kind in ("hhmm", "hhmm?"):
        return st.sampled_from(["00:00", "23:59", "21:59", "22:00"])
    if kind == "bool":
        return st.booleans()
    if kind in CHOICES:
        return st.sampled_from(CHOICES[kind])
    if kind == "assignments":  # due on day 1: within any camp's days
        return st.lists(
            st.builds(
                lambda i, t: {"assignment_id": i, "tier": t, "due_day": 1},
                edge_value("id"),
                edge_value("tier"),
            ),
            max_size=3,
            unique_by=lambda a: a["assignment_id"],
        )
    return st.just("https://example.org/" + "a" * 2000)
