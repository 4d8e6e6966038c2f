"""Apache Kafka from its jars: what a missing tool says, and the pinned version."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import apache_kafka
from shared.apache_kafka import ApacheKafka, kafka_jars, kafka_version
from shared.embedded import InfrastructureError, local_kafka


def test_the_version_is_the_one_the_pom_pins() -> None:
    assert kafka_version().startswith("4.")


def test_a_missing_java_is_one_line_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(apache_kafka.shutil, "which", lambda _name: None)
    with pytest.raises(InfrastructureError) as err:
        ApacheKafka(19999).start()
    assert str(err.value) == (
        "Apache Kafka needs Java 17 or newer ('java' is not on PATH): on Debian,"
        " apt-get install openjdk-17-jre-headless"
    )


def test_a_missing_maven_is_named_when_the_jars_are_not_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(apache_kafka.shutil, "which", lambda _name: None)
    with pytest.raises(InfrastructureError, match="apt-get install maven"):
        kafka_jars(tmp_path)


def test_an_unknown_broker_kind_is_refused() -> None:
    with pytest.raises(InfrastructureError, match="embedded, apache"):
        local_kafka("redpanda", 9092)
