"""The garbage collector's settings for a worker that holds thousands of connections.

Why: every connection leaves a few hundred container objects that live as long as it does. With
CPython's default young threshold (700 new objects), a reconnect storm of 5,000 promoted them to the
oldest generation a few hundred at a time, and each time that generation had grown by a quarter the
collector walked all of it: 11 full collections, 1.4 s of the restarted worker's 4-6 s storm.
A larger young generation lets the short-lived objects of a join die before they are promoted, so
the old one grows in a few large steps instead of many small ones. Objects freed by their reference
count never wait for the collector: only garbage in reference cycles waits a little longer.
"""

from __future__ import annotations

import gc

#: Net new container objects before a young collection (CPython's default: 700). The restarted
#: worker's time in the collector, from its start to the end of the storm scenario, at 700 / 10,000 /
#: 50,000 / 100,000: 1.70-1.85 s / 0.76 / 0.51-0.54 / 0.69 (a third of it the one full collection
#: before the freeze).
YOUNG_THRESHOLD = 50_000


def settle_for_a_long_life() -> None:
    """Collect once, freeze what exists now (it lives as long as the process, and full collections
    then skip it), and raise the young threshold to YOUNG_THRESHOLD (never lower it)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
