from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.main import tune_gc
from shared.settings import SettingsError, load_settings


@pytest.fixture
def python_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_a_service_freezes_what_start_made_and_collects_young_objects_rarely(
    python_gc: None,
) -> None:
    gc.unfreeze()
    tune_gc(50_000)
    assert gc.get_threshold() == (50_000, 20, 100)
    assert gc.get_freeze_count() > 1000  # this test run's modules, at least


def test_zero_keeps_pythons_young_generations_and_makes_full_collections_rarer(
    python_gc: None,
) -> None:
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 100)
    assert gc.get_freeze_count() == 0


def test_the_threshold_is_a_setting_with_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAMIFY_GC_GEN0_THRESHOLD", raising=False)
    assert load_settings().gc_gen0_threshold == 50_000
    monkeypatch.setenv("GAMIFY_GC_GEN0_THRESHOLD", "-1")
    with pytest.raises(SettingsError, match="GAMIFY_GC_GEN0_THRESHOLD='-1'"):
        load_settings()
