"""Topic names of the contract, the model each one carries, and topic creation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared import events
from shared.kafka_clients import running

CAMPS = "camp.camps"
ENROLLMENTS = "camp.enrollments"
PREFERENCES = "camp.preferences"
CHECKINS = "camp.checkins"
LESSONS = "camp.lessons"
SUBMISSIONS = "camp.submissions"
REVIEWS = "camp.reviews"
SHARES = "camp.shares"
VOTES = "camp.votes"
REDEMPTIONS = "camp.redemptions"
QUESTIONS = "camp.questions"
ANSWERS = "camp.answers"
LEAVES = "camp.leaves"

POINTS = "gamify.points"
REDEMPTION_RESULTS = "gamify.redemptions"
BADGES = "gamify.badges"
NUDGES = "gamify.nudges"
SEGMENTS = "gamify.segments"
GIFTS = "gamify.gifts"
CONTESTS = "gamify.contests"
DLQ = "gamify.dlq"
CLOCK = "gamify.clock"

MODELS: dict[str, type[events.Event]] = {
    CAMPS: events.Camp,
    ENROLLMENTS: events.Enrollment,
    PREFERENCES: events.Preference,
    CHECKINS: events.CheckIn,
    LESSONS: events.LessonProgress,
    SUBMISSIONS: events.Submission,
    REVIEWS: events.Review,
    SHARES: events.Share,
    VOTES: events.Vote,
    REDEMPTIONS: events.RedemptionRequest,
    QUESTIONS: events.Question,
    ANSWERS: events.Answer,
    LEAVES: events.Leave,
    POINTS: events.PointsEntry,
    REDEMPTION_RESULTS: events.RedemptionResult,
    BADGES: events.BadgeAwarded,
    NUDGES: events.Nudge,
    SEGMENTS: events.SegmentChange,
    GIFTS: events.Gift,
    CONTESTS: events.ContestResult,
    DLQ: events.DeadLetter,
}

# The field whose value every message of an input topic is keyed by (contract, "Wire rules"):
# the lanes and the partitioning rely on one student's events sharing a partition.
KEY_FIELDS: dict[str, str] = {
    **{t: "student_id" for t in MODELS if t.startswith("camp.")},
    CAMPS: "camp_id",
    VOTES: "camp_id",
}

ALL = [*MODELS, CLOCK]
INPUT_TOPICS = [t for t in MODELS if t.startswith("camp.")]
OUTPUT_TOPICS = [t for t in MODELS if t.startswith("gamify.")]

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long, and how often, a broker that has just come back is asked again
_COMEBACK_S = 30.0
_RETRY_PAUSE_S = 0.5


def physical(prefix: str, topic: str) -> str:
    """The topic's name on the broker: `prefix` lets tests and tenants share one cluster."""
    return f"{prefix}{topic}"


def logical(prefix: str, topic: str) -> str:
    """Inverse of `physical`."""
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic


async def ensure_topics(
    bootstrap: str,
    names: list[str],
    partitions: int,
    replication_factor: int = 1,
    leaders_within_s: float = 10.0,
    **client_options: object,
) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are. Returns
    once every partition it created takes records, for at most `leaders_within_s`.

    A broker accepts a creation before it has elected the partitions' leaders: a producer
    sending at once is refused with NotLeaderForPartition and retries, logging each refusal
    (dozens of lines on Apache Kafka when a run's topics are made and filled at once)."""

    async def create_missing(admin: AIOKafkaAdminClient) -> list[str]:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return []
        try:
            await admin.create_topics(
                [NewTopic(n, partitions, replication_factor) for n in missing]
            )
        except TopicAlreadyExistsError:
            log.debug("topics created concurrently by another process, which awaits them")
            return []
        log.info("created topics %s", ", ".join(missing))
        return missing

    missing = await _ask(bootstrap, create_missing, "topics", **client_options)
    made = [TopicPartition(n, p) for n in missing for p in range(partitions)]
    if made:
        await _await_leaders(bootstrap, made, leaders_within_s, **client_options)


async def _await_leaders(
    bootstrap: str, made: list[TopicPartition], within_s: float, **client_options: object
) -> None:
    """Until every partition made answers for its offsets: its leader leads. (A broker's
    metadata names a new partition's leader a moment before that leader takes records, so
    the metadata alone is not enough.)"""
    try:
        async with (
            running(AIOKafkaConsumer(bootstrap_servers=bootstrap, **client_options)) as consumer,
            asyncio.timeout(within_s),
        ):
            await consumer.end_offsets(made)  # retried until each partition's leader answers
    except TimeoutError:
        # Producers retry until a leader is elected: late is slow, not wrong
        log.warning("topics created, but not all their partitions lead after %.0f s", within_s)


async def partitions_of(bootstrap: str, name: str, **client_options: object) -> list[int]:
    """Every partition of topic `name` (none if it does not exist), asked of the broker now.
    A consumer's own metadata may lack a topic made after it started (Apache Kafka tells a
    client only of the topics it asks about), and guessing partition 0 for it reads one
    partition of several."""

    async def describe(admin: AIOKafkaAdminClient) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], await admin.describe_topics([name]))

    described = await _ask(bootstrap, describe, f"the partitions of {name}", **client_options)
    return sorted(
        p["partition"]
        for t in described
        if t["topic"] == name and t["error_code"] == 0
        for p in t["partitions"]
    )


async def _ask(
    bootstrap: str,
    question: Callable[[AIOKafkaAdminClient], Awaitable[T]],
    about: str,
    **client_options: object,
) -> T:
    """`question` put to the broker by an admin client, always closed after.

    A broker that has just come back (restarted, or resumed after a pause) may answer
    metadata that names no broker for a moment, leaving aiokafka's admin client no node to
    ask: such retriable errors are asked again with a fresh client for `_COMEBACK_S`. A
    broker that cannot be reached at all is reported at once."""
    deadline = asyncio.get_running_loop().time() + _COMEBACK_S
    retried = False
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options)
        try:
            await admin.start()
            try:
                return await question(admin)
            except KafkaError as error:
                if not error.retriable or asyncio.get_running_loop().time() >= deadline:
                    raise
                if not retried:
                    log.warning("asking the broker again about %s: %s", about, error)
                retried = True
        finally:
            await admin.close()
        await asyncio.sleep(_RETRY_PAUSE_S)
