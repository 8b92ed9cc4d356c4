"""Types of the C word passes in _scan*.c (chatserver.crisis.index, .opinion and .reading use them)."""

from collections.abc import Callable

UNKNOWN: int
NEGATED: int
SOMEONE_ELSE: int
NEGATION_WORDS: int
SUBJECT_WORDS: int

def word_spans(text: str, /) -> tuple[list[str], list[int], list[int]]: ...
def read_around(
    text: str,
    start: int,
    end: int,
    join: int,
    negators: frozenset[str],
    self_words: frozenset[str],
    other_words: frozenset[str],
    /,
) -> int: ...

class Scanner:
    stamp: int
    def __init__(
        self,
        cache: dict[str, bytes],
        miss: Callable[[str], bytes],
        limit: int,
        patterns: int,
        groups: int,
        need_start: bytes,
        need_ids: bytes,
        obfuscated_at: int,
    ) -> None: ...
    def triggered(self, text: str, /) -> tuple[set[int], int]: ...

class Weigher:
    stamp: int
    def __init__(
        self,
        cache: dict[str, bytes],
        miss: Callable[[str], bytes],
        limit: int,
        words: int,
        stems: int,
        word_weights: bytes,
        stem_weights: bytes,
        pair_ids: bytes,
        pair_weights: bytes,
        biases: tuple[float, float, float],
        threshold: float,
        names: tuple[str | None, str | None, str | None, str | None],
    ) -> None: ...
    def level(self, text: str, /) -> str | None: ...
