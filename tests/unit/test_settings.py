from __future__ import annotations

import pytest

from shared.settings import SettingsError, load_settings


def test_defaults_fit_gamify_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GAMIFY_KAFKA_BOOTSTRAP", "GAMIFY_HTTP_PORT", "GAMIFY_CLOCK"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.clock == "wall"
    assert [s.port_for(n) for n in ("points", "badges", "nudges", "contests")] == [
        9101,
        9102,
        9103,
        9104,
    ]


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMIFY_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("GAMIFY_CLOCK", "topic")
    monkeypatch.setenv("GAMIFY_HTTP_PORT", "8000")
    s = load_settings()
    assert (s.kafka_bootstrap, s.clock, s.port_for("points")) == ("kafka:9092", "topic", 8000)


def test_a_wrong_variable_is_named_with_its_value_and_what_it_takes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GAMIFY_CLOCK", "sundial")
    monkeypatch.setenv("GAMIFY_BATCH_MAX_RECORDS", "lots")
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    assert "GAMIFY_CLOCK='sundial'" in text and "'wall' or 'topic'" in text
    assert "GAMIFY_BATCH_MAX_RECORDS='lots'" in text and "integer" in text


@pytest.mark.parametrize(
    ("host", "env", "starts"),
    [
        ("127.0.0.1", {}, True),
        ("::1", {}, True),
        ("localhost", {}, True),
        ("0.0.0.0", {}, False),
        ("10.0.0.5", {}, False),
        ("0.0.0.0", {"GAMIFY_HTTP_TOKEN": "s3cret"}, True),
        ("0.0.0.0", {"GAMIFY_HTTP_OPEN": "true"}, True),
    ],
)
def test_a_read_api_beyond_loopback_needs_a_token_or_an_explicit_open(
    monkeypatch: pytest.MonkeyPatch, host: str, env: dict[str, str], starts: bool
) -> None:
    for var in ("GAMIFY_HTTP_TOKEN", "GAMIFY_HTTP_OPEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GAMIFY_HTTP_HOST", host)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    if starts:
        load_settings()
    else:
        with pytest.raises(SettingsError, match="set GAMIFY_HTTP_TOKEN, or GAMIFY_HTTP_OPEN=true"):
            load_settings()
