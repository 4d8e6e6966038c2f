"""Badge criteria at their edges: exactly at the threshold, and one short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.badges.config import DEFAULT_BADGES_FILE, Badge, BadgeBook
from services.badges.credential import open_badge
from services.badges.rules import (
    BadgeJudge,
    CampFacts,
    StudentFacts,
    facts_needed,
    statuses,
    watch_ratio,
)
from shared.config import ConfigError, load_yaml
from shared.events import Assignment

BOOK = load_yaml(DEFAULT_BADGES_FILE, BadgeBook).model
CAMP = CampFacts("c", days=21, lessons=10)


def earned(
    facts: StudentFacts, camp: CampFacts | None = CAMP, held: set[str] | None = None
) -> list[str]:
    return BadgeJudge(BOOK.badges).new_badges(facts, camp, held or set())


def test_the_shipped_book_has_the_contracts_six_badges() -> None:
    assert [b.id for b in BOOK.badges] == [
        "streak-7",
        "streak-21",
        "first-excellent",
        "excellent-3",
        "completion",
        "seed-student",
    ]


@pytest.mark.parametrize(
    ("days", "badges"),
    [
        (range(1, 7), []),
        (range(1, 8), ["streak-7"]),
        ([*range(1, 7), 8], []),
        (range(1, 21), ["streak-7"]),
        (range(1, 22), ["streak-7", "streak-21"]),
        (range(2, 23), ["streak-7"]),  # day 22 is beyond a 21-day camp: 20 days count
    ],
)
def test_streak_badges(days: object, badges: list[str]) -> None:
    got = earned(StudentFacts(days=frozenset(days)))  # type: ignore[arg-type]
    assert [b for b in got if b.startswith("streak")] == badges


@pytest.mark.parametrize(
    ("works", "badges"),
    [
        (0, []),
        (1, ["first-excellent"]),
        (2, ["first-excellent"]),
        (3, ["first-excellent", "excellent-3"]),
    ],
)
def test_excellence_badges(works: int, badges: list[str]) -> None:
    facts = StudentFacts(excellent=frozenset(f"w{i}" for i in range(works)))
    assert earned(facts) == badges


@pytest.mark.parametrize(
    ("excellent", "days", "seed"),
    [
        (2, 14, True),
        (1, 14, False),
        (2, 13, False),
        (3, 20, True),
    ],
)
def test_seed_student_needs_two_excellent_works_and_fourteen_days(
    excellent: int, days: int, seed: bool
) -> None:
    facts = StudentFacts(
        days=frozenset(range(1, 2 * days, 2)),  # every other day of a long camp
        excellent=frozenset(f"w{i}" for i in range(excellent)),
    )
    assert ("seed-student" in earned(facts, camp=CampFacts("c", 60, 10))) is seed


def full_lessons(n: int = 10, ratio: float = 0.8) -> dict[str, float]:
    return {f"l{i}": ratio for i in range(n)}


@pytest.mark.parametrize(
    ("days", "lessons", "complete"),
    [
        (17, full_lessons(), True),  # 17/21 >= 80%
        (16, full_lessons(), False),  # 16/21 < 80%
        (17, full_lessons(9), False),  # one lesson not watched
        (17, full_lessons(ratio=0.79), False),  # watched just under 80%
        (17, {**full_lessons(9), "l9": 0.5}, False),
    ],
)
def test_completion_needs_every_lesson_at_80_percent_and_80_percent_of_days(
    days: int, lessons: dict[str, float], complete: bool
) -> None:
    facts = StudentFacts(
        days=frozenset(range(1, days + 1)),
        lesson_ratios=lessons,
    )
    assert ("completion" in earned(facts)) is complete


def test_completion_waits_for_the_camp_and_shows_unknown_targets() -> None:
    facts = StudentFacts(days=frozenset(range(1, 22)), lesson_ratios=full_lessons())
    assert "completion" not in earned(facts, camp=None)
    [status] = [s for s in statuses(BOOK.badges, facts, None) if s.badge_id == "completion"]
    assert [(p.criterion, p.current, p.target) for p in status.progress] == [
        ("checkin_share", 21, None),
        ("lessons", 10, None),
    ]
    assert "completion" in earned(facts, camp=CAMP)


def test_a_camp_without_lessons_completes_on_check_ins_alone() -> None:
    facts = StudentFacts(days=frozenset(range(1, 18)))
    assert "completion" in earned(facts, camp=CampFacts("c", 21, 0))


def test_badges_already_held_are_not_awarded_again() -> None:
    facts = StudentFacts(excellent=frozenset({"w1"}))
    assert earned(facts, held={"first-excellent"}) == []


@pytest.mark.parametrize(
    ("watched", "duration", "ratio"), [(480, 600, 0.8), (900, 600, 1.0), (0, 600, 0.0)]
)
def test_watch_ratio_is_capped(watched: int, duration: int, ratio: float) -> None:
    assert watch_ratio(watched, duration) == ratio


def test_progress_reads_how_far_along(tmp_path: Path) -> None:
    facts = StudentFacts(days=frozenset(range(1, 6)))
    [s7] = [s for s in statuses(BOOK.badges, facts, CAMP) if s.badge_id == "streak-7"]
    assert [(p.current, p.target, p.met) for p in s7.progress] == [(5, 7, False)]


def test_new_badges_of_the_same_kinds_need_only_configuration(tmp_path: Path) -> None:
    path = tmp_path / "badges.yaml"
    path.write_text(
        "seed_badge: null\nbadges:\n"
        "  - {id: streak-14, name: S14, description: d, image: i, criteria: {streak_days: 14}}\n"
        "  - {id: excellent-5, name: E5, description: d, image: i,"
        " criteria: {excellent_works: 5}}\n",
        encoding="utf-8",
    )
    book = load_yaml(path, BadgeBook).model
    facts = StudentFacts(days=frozenset(range(1, 15)), excellent=frozenset(map(str, range(5))))
    assert BadgeJudge(book.badges).new_badges(facts, CAMP, set()) == ["streak-14", "excellent-5"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "badges:\n  - {id: a, name: n, description: d, image: i, criteria: {}}\n"
            "seed_badge: null\n",
            ":2: badges.0.criteria: Value error, name at least one criterion",
        ),
        ("seed_badge: nope\nbadges: []\n", "seed_badge 'nope' is not among the badges"),
        (
            "seed_badge: null\nbadges:\n  - {id: a, name: n, description: d, image: i,"
            " criteria: {streak_days: 0}}\n",
            ":3: badges.0.criteria.streak_days:",
        ),
    ],
)
def test_bad_badge_files_are_refused_with_their_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "badges.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_yaml(path, BadgeBook)


def test_duplicate_badge_ids_are_refused() -> None:
    b = {"id": "a", "name": "n", "description": "d", "image": "i", "criteria": {"streak_days": 3}}
    with pytest.raises(ValidationError, match="repeated: a"):
        BadgeBook.model_validate({"seed_badge": None, "badges": [b, b]})


def test_a_badge_exports_as_an_open_badges_3_credential() -> None:
    badge = BOOK.get("completion")
    assert badge is not None
    at = datetime(2026, 12, 11, 20, tzinfo=UTC)
    cred = open_badge(badge, BOOK.issuer, "c", "stu-1", at)
    assert cred["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json" in cred["@context"]
    assert cred["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert cred["id"].startswith("urn:uuid:") and cred["validFrom"] == at.isoformat()
    subject = cred["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    achievement = subject["achievement"]
    assert achievement["type"] == ["Achievement"] and achievement["name"] == badge.name
    assert "80%" in achievement["criteria"]["narrative"]
    assert achievement["image"] == {"id": badge.image, "type": "Image"}
    assert cred == open_badge(badge, BOOK.issuer, "c", "stu-1", at)  # stable id


@settings(max_examples=300, deadline=None)
@given(
    days=st.frozensets(st.integers(1, 30)),
    works=st.frozensets(st.sampled_from([f"w{n}" for n in range(8)])),
    ratios=st.dictionaries(st.sampled_from([f"l{n}" for n in range(12)]), st.floats(0, 1)),
    camp=st.none() | st.builds(CampFacts, st.just("c"), st.integers(1, 30), st.integers(0, 12)),
    held=st.sets(st.sampled_from([b.id for b in BOOK.badges])),
)
def test_new_badges_are_exactly_the_earned_statuses_not_held(
    days: frozenset[int],
    works: frozenset[str],
    ratios: dict[str, float],
    camp: CampFacts | None,
    held: set[str],
) -> None:
    facts = StudentFacts(days, works, ratios)
    expected = [s.badge_id for s in statuses(BOOK.badges, facts, camp) if s.earned]
    assert BadgeJudge(BOOK.badges).new_badges(facts, camp, held) == [
        b for b in expected if b not in held
    ]


_CRITERIA = st.fixed_dictionaries(
    {},
    optional={
        "streak_days": st.integers(1, 30),
        "checkin_days": st.integers(1, 30),
        "checkin_share": st.floats(0.01, 1),
        "excellent_works": st.integers(1, 8),
        "lessons": st.fixed_dictionaries(
            {"watched_ratio": st.floats(0.01, 1), "share": st.floats(0.01, 1)}
        ),
    },
).filter(bool)


@settings(max_examples=300, deadline=None)
@given(
    criteria=st.lists(_CRITERIA, min_size=1, max_size=6),
    days=st.frozensets(st.integers(1, 30)),
    works=st.frozensets(st.sampled_from([f"w{n}" for n in range(8)])),
    ratios=st.dictionaries(st.sampled_from([f"l{n}" for n in range(12)]), st.floats(0, 1)),
    camp=st.none() | st.builds(CampFacts, st.just("c"), st.integers(1, 30), st.integers(0, 12)),
)
def test_any_book_awards_exactly_the_badges_whose_every_step_is_met(
    criteria: list[dict[str, object]],
    days: frozenset[int],
    works: frozenset[str],
    ratios: dict[str, float],
    camp: CampFacts | None,
) -> None:
    """new_badges judges without building the progress steps; it must agree with them."""
    book = [
        Badge.model_validate(
            {"id": f"b{i}", "name": "n", "description": "d", "image": "i", "criteria": c}
        )
        for i, c in enumerate(criteria)
    ]
    facts = StudentFacts(days, works, ratios)
    expected = [s.badge_id for s in statuses(book, facts, camp) if s.earned]
    assert BadgeJudge(book).new_badges(facts, camp, set()) == expected


# ---- the learning loop: a completion that requires homework, Q&A participation ----

SCHEDULED = CampFacts(
    "c",
    days=21,
    lessons=0,
    starts_on=datetime(2026, 11, 20).date(),
    timezone="Asia/Shanghai",
    assignments=tuple(
        Assignment(assignment_id=f"p{i}", tier="practice", due_day=7 * i) for i in (1, 2, 3)
    ),
)
HOMEWORK = [
    Badge(
        id="diligent",
        name="作业达人",
        description="Two thirds of the homework on time.",
        image="https://example.org/d.png",
        criteria={"homework_rate": 0.66},
    ),
    Badge(
        id="helper",
        name="热心助人",
        description="Answered two classmates' questions and asked one.",
        image="https://example.org/h.png",
        criteria={"answers_given": 2, "questions_asked": 1},
    ),
]
HOMEWORK_JUDGE = BadgeJudge(HOMEWORK)
SH8 = timezone(timedelta(hours=8))


def test_homework_rate_counts_only_on_time_hand_ins_of_the_whole_schedule() -> None:
    on_time = {"p1": datetime(2026, 11, 26, 23, 0, tzinfo=SH8)}  # day 7, its due day
    late = {**on_time, "p2": datetime(2026, 12, 4, 0, 30, tzinfo=SH8)}  # day 15: p2 was day 14
    both = {**on_time, "p2": datetime(2026, 12, 3, 9, 0, tzinfo=SH8)}
    assert HOMEWORK_JUDGE.new_badges(StudentFacts(handed_in=on_time), SCHEDULED, set()) == []
    assert HOMEWORK_JUDGE.new_badges(StudentFacts(handed_in=late), SCHEDULED, set()) == []
    assert HOMEWORK_JUDGE.new_badges(StudentFacts(handed_in=both), SCHEDULED, set()) == ["diligent"]
    # before the camp is known nothing can be judged; a camp without a schedule meets it
    assert HOMEWORK_JUDGE.new_badges(StudentFacts(handed_in=both), None, set()) == []
    assert HOMEWORK_JUDGE.new_badges(StudentFacts(), CAMP, set()) == ["diligent"]


def test_participation_counts_questions_and_answers_to_others() -> None:
    assert HOMEWORK_JUDGE.new_badges(StudentFacts(questions=1, answers=1), CAMP, set()) == [
        "diligent"
    ]
    assert HOMEWORK_JUDGE.new_badges(StudentFacts(questions=1, answers=2), CAMP, set()) == [
        "diligent",
        "helper",
    ]


def test_the_shipped_completion_badge_keeps_todays_rule() -> None:
    completion = next(b for b in BOOK.badges if b.id == "completion")
    assert completion.criteria.homework_rate is None


CRITERIA = [
    {"streak_days": 3},
    {"checkin_days": 2},
    {"checkin_share": 0.1},
    {"excellent_works": 1},
    {"lessons": {"watched_ratio": 0.5, "share": 0.2}},
    {"homework_rate": 0.5},
    {"questions_asked": 1},
    {"answers_given": 1},
]


@pytest.mark.parametrize("criteria", CRITERIA, ids=lambda c: next(iter(c)))
def test_the_facts_a_book_needs_are_all_its_criteria_read(criteria: dict[str, object]) -> None:
    """The store loads only rules.facts_needed: progress on the facts so cut equals progress
    on them all (a criterion reading a fact it does not declare would differ)."""
    start = datetime(2026, 11, 2, tzinfo=UTC)
    camp = CampFacts(
        "c",
        days=21,
        lessons=4,
        starts_on=start.date(),
        timezone="UTC",
        assignments=(Assignment(assignment_id="a1", tier="practice", due_day=3),),
    )
    full = StudentFacts(
        days=frozenset({1, 2, 4}),
        excellent=frozenset({"w1"}),
        lesson_ratios={"l1": 0.9},
        handed_in={"a1": start},
        questions=2,
        answers=1,
        leave=frozenset({3}),
    )
    badge = Badge.model_validate(
        {"id": "b", "name": "B", "description": "d", "image": "i", "criteria": criteria}
    )
    needed = facts_needed([badge])
    empty = StudentFacts()
    cut = StudentFacts(
        **{
            f: getattr(
                full if (f in needed or (f in QA and "questions_answers" in needed)) else empty, f
            )
            for f in StudentFacts.__slots__
        }
    )
    assert statuses([badge], cut, camp) == statuses([badge], full, camp)
    assert statuses([badge], full, camp)[0].earned  # the facts above meet every criterion


QA = ("questions", "answers")


def test_the_shipped_book_needs_no_homework_or_questions() -> None:
    assert facts_needed(BOOK.badges) == {"days", "leave", "excellent", "lesson_ratios"}
