"""Topic names of the contract, the model each one carries, and topic creation."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

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
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [NewTopic(n, partitions, replication_factor) for n in missing]
            )
        except TopicAlreadyExistsError:
            log.debug("topics created concurrently by another process, which awaits them")
            return
        log.info("created topics %s", ", ".join(missing))
    finally:
        await admin.close()
    made = [TopicPartition(n, p) for n in missing for p in range(partitions)]
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
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options)
    await admin.start()
    try:
        described = await admin.describe_topics([name])
    finally:
        await admin.close()
    return sorted(
        p["partition"]
        for t in described
        if t["topic"] == name and t["error_code"] == 0
        for p in t["partitions"]
    )
