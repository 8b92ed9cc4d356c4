"""One view of several machines' audit logs (issue 18): `audit export` and `audit verify` over
several database files.

Every machine still commits its own hash-chained rows before anything is published; nothing here
writes. Reading several files merges their rows in time order (`ts`, then the order the files were
named, then each file's own row id), each row saying which file it came from (`source`), and
verifying checks every file's chain on its own: the chains are independent, so a broken one is
named by its file and says nothing about the others.
"""

from __future__ import annotations

import glob
import heapq
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from chatserver.audit.chain import VerifyResult, verify
from chatserver.audit.export import check_format, iter_rows, write_rows
from chatserver.errors import ChatError

Paths = Sequence[str | os.PathLike[str]]


def expand(patterns: Iterable[str]) -> list[Path]:
    """The files named, globs expanded (sorted), each once, in the order given.

    Raises:
        ChatError: a name or pattern matches no file.
    """
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        matches = [m for m in matches if Path(m).is_file()]
        if not matches:
            raise ChatError(f"No database at {pattern}: pass --db PATH (or CHATSERVER_DB), once per machine")
        found.extend(Path(m) for m in matches if Path(m) not in found)
    return found


def iter_merged(paths: Paths, **filters: Any) -> Iterator[dict[str, Any]]:
    """The rows of every file, filtered as `iter_rows` does, in time order, each with its `source`."""

    def tagged(index: int, path: str | os.PathLike[str]) -> Iterator[tuple[str, int, int, dict[str, Any]]]:
        source = str(path)
        for row in iter_rows(path, order="ts", **filters):
            yield row["ts"], index, row["id"], {"source": source, **row}

    for *_, row in heapq.merge(*(tagged(i, p) for i, p in enumerate(paths))):
        yield row


def verify_each(paths: Paths) -> list[tuple[Path, VerifyResult]]:
    """Every file's chain, checked on its own, in the order given."""
    return [(Path(path), verify(path)) for path in paths]


def export_merged(paths: Paths, out: TextIO, *, fmt: str = "jsonl", **filters: Any) -> int:
    """`export` over several files: one stream in time order; each row's `source` names its file."""
    check_format(fmt)
    return write_rows(iter_merged(paths, **filters), out, fmt, source=True)
