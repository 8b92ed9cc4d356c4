"""The collector's settings for a long-lived worker (collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from chatserver.collector import OLD_THRESHOLD, YOUNG_THRESHOLD, settle_for_a_long_life


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_young_and_old_thresholds_rise_and_what_exists_is_frozen(thresholds: None) -> None:
    gc.set_threshold(700, 10, 10)
    alive = [[] for _ in range(100)]  # containers the collector tracks, alive when the worker settles
    settle_for_a_long_life()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, OLD_THRESHOLD)
    assert gc.get_freeze_count() >= len(alive)


def test_a_higher_threshold_or_a_disabled_collector_is_kept(thresholds: None) -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 2, 5, OLD_THRESHOLD * 2)
    settle_for_a_long_life()
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, 5, OLD_THRESHOLD * 2)
    gc.set_threshold(0, 10, 10)  # 0: automatic collection is off; not ours to turn back on
    settle_for_a_long_life()
    assert gc.get_threshold() == (0, 10, 10)
