"""What the benchmark feeds the services: a camp's backlog (check-ins of 10,000 students over
20 days, their enrolments, works and votes) and, for latency, probe events that each give one
output event the probe can recognise by its key."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from shared import topics

CAMP = "bench-camp"
STUDENTS = 10_000


def _now() -> str:
    return datetime.now(UTC).isoformat()


def camp_event(today: date) -> dict[str, object]:
    return {
        "event_id": "bench-camp-1",
        "occurred_at": _now(),
        "camp_id": CAMP,
        "title": "bench",
        "starts_on": (today - timedelta(days=30)).isoformat(),
        "days": 366,
        "timezone": "UTC",
        "lessons": 20,
        "cohort_reminder_time": "20:00",
    }


def backlog(checkins: int, seed: int = 7) -> Iterator[tuple[str, bytes, bytes]]:
    """(topic, key, value): the camp, then every student's enrolment, then `checkins` check-ins
    (student by student, day by day), and as many contest events (10% works, the rest votes)."""
    rng = random.Random(seed)
    now = _now()

    def out(topic: str, key: str, event: dict[str, object]) -> tuple[str, bytes, bytes]:
        return topic, key.encode(), json.dumps(event).encode()

    yield out(topics.CAMPS, CAMP, camp_event(datetime.now(UTC).date()))
    students = [f"s{i:05d}" for i in range(STUDENTS)]
    for s in students:
        yield out(
            topics.ENROLLMENTS,
            s,
            {
                "event_id": f"en-{s}",
                "occurred_at": now,
                "camp_id": CAMP,
                "student_id": s,
                "display_name": s,
            },
        )
    for n in range(checkins):
        s, day = students[n % STUDENTS], 1 + (n // STUDENTS) % 30
        yield out(
            topics.CHECKINS,
            s,
            {
                "event_id": f"ci-{n}",
                "occurred_at": now,
                "camp_id": CAMP,
                "student_id": s,
                "day": day,
            },
        )
    works: list[str] = []
    contest_events = checkins - STUDENTS  # with the enrolments: as many as the check-ins
    for n in range(contest_events):
        if n % 10 == 0 or not works:
            s = students[(n // 10) % STUDENTS]
            work = f"w{n}"
            works.append(work)
            yield out(
                topics.SUBMISSIONS,
                s,
                {
                    "event_id": f"sub-{n}",
                    "occurred_at": now,
                    "camp_id": CAMP,
                    "student_id": s,
                    "submission_id": work,
                    "assignment_id": f"a{n % 20}",
                    "tier": "practice",
                    "title": "work",
                    "url": f"https://example.org/{work}",
                    "contest_entry": True,
                },
            )
        else:
            yield out(
                topics.VOTES,
                CAMP,
                {
                    "event_id": f"vote-{n}",
                    "occurred_at": now,
                    "camp_id": CAMP,
                    "voter_id": rng.choice(students),
                    "submission_id": rng.choice(works),
                },
            )


# ---- latency probes: one output event each, found by its key ----

PROBE_OUTPUT = {
    "points": topics.POINTS,  # a check-in of a new student pays
    "badges": topics.BADGES,  # a first excellent review awards first-excellent
    "nudges": topics.DLQ,  # no per-event output: the dead-letter path (same batch, outbox)
    "contests": topics.DLQ,
}


def probe(service: str, n: int, tag: str = "") -> tuple[str, list[tuple[str, bytes]]]:
    """(key, [(topic, value), ...]) of probe `n` for `service`; its output carries the key.
    Probes of different `tag` are different events (warm-up probes, measured ones)."""
    key = f"probe-{service}-{tag}{n}"
    base = {"event_id": key, "occurred_at": _now(), "camp_id": CAMP, "student_id": key}
    if service == "points":
        return key, [(topics.CHECKINS, json.dumps({**base, "day": 1}).encode())]
    if service == "badges":  # a review counts once its submission is known: the work first
        work = {
            **base,
            "submission_id": f"w-{key}",
            "assignment_id": "a-probe",
            "tier": "basic",
            "title": "probe",
            "url": "https://example.org/probe",
            "contest_entry": False,
        }
        review = {"submission_id": f"w-{key}", "reviewer_id": "t", "score": 95, "excellent": True}
        return key, [
            (topics.SUBMISSIONS, json.dumps(work).encode()),
            (topics.REVIEWS, json.dumps({**base, **review}).encode()),
        ]
    # A real event's shape and size with one value out of range: a fetch waits for its minimum
    # bytes, so a probe smaller than the events it stands for would be taken up later than they.
    if service == "nudges":
        return key, [(topics.CHECKINS, json.dumps({**base, "day": 0}).encode())]
    vote = {k: v for k, v in base.items() if k != "student_id"}
    vote |= {"voter_id": "", "submission_id": f"w-{key}"}
    return key, [(topics.VOTES, json.dumps(vote).encode())]


def expected_inputs(service: str, checkins: int) -> int:
    """How many backlog records `service` consumes."""
    from gamify.launcher import service_inputs

    counts = {
        topics.CAMPS: 1,
        topics.ENROLLMENTS: STUDENTS,
        topics.CHECKINS: checkins,
    }
    contest_events = max(0, checkins - STUDENTS)
    counts[topics.SUBMISSIONS] = sum(1 for n in range(contest_events) if n % 10 == 0 or n == 0)
    counts[topics.VOTES] = contest_events - counts[topics.SUBMISSIONS]
    return sum(counts.get(t, 0) for t in service_inputs(service))
