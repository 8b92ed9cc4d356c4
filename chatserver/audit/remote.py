"""Reading another machine's audit rows over HTTP, and merging them with this machine's (issue 18).

A machine asks each other machine's own `/api/audit` or `/api/admin/transcript` with `scope=local`
(answer from your own file, never ask further) and the admin's own `Authorization` header: hosts
are shared through Redis, so the admin's token is valid on every machine and no machine-to-machine
secret is needed. The standard library's urllib, run in a thread: no new dependency, and nothing
here is on the message path. Proxies from the environment and redirects are not followed, so the
token goes to the registered machine and nowhere else.
"""

from __future__ import annotations

import heapq
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.client import HTTPResponse
from typing import Any
from urllib.parse import urlencode

import orjson

log = logging.getLogger(__name__)

#: Seconds to wait for a machine to answer (to connect, and between any two reads).
PEER_TIMEOUT_S = 4.0

#: Why a machine's rows are not in a view; the words go into the Chatserver-Audit-Missing header.
NO_ANSWER = "did not answer"
NO_URL = "no CHATSERVER_MACHINE_URL"
NO_REGISTRY = "Redis did not answer"
#: The name the missing header gives the machines it cannot name (the registry did not answer).
UNKNOWN = "other machines"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the admin's token to wherever it points: treat it as an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


@dataclass
class Peer:
    """One other machine asked for its rows: the open response, or why there is none."""

    name: str
    response: HTTPResponse | None = None
    missing: str = ""
    extra: list[Any] = field(default_factory=list)


def open_peer(name: str, url: str, path: str, params: Mapping[str, str], authorization: str) -> Peer:
    """Ask machine `name` at `url` for `path` with `params` and `scope=local` (blocking: run it in a
    thread). The response is open and its status was 200, or `missing` says why not."""
    query = urlencode({**params, "scope": "local"})
    request = urllib.request.Request(
        f"{url}{path}?{query}", headers={"Authorization": authorization, "Accept": "application/json"}
    )
    try:
        response: HTTPResponse = _OPENER.open(request, timeout=PEER_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        log.warning("audit view: machine %s answered HTTP %d", name, exc.code)
        return Peer(name, missing=f"answered HTTP {exc.code}")
    except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
        log.warning("audit view: machine %s did not answer (%s)", name, type(exc).__name__)
        return Peer(name, missing=NO_ANSWER)
    return Peer(name, response=response)


def read_json(peer: Peer) -> Peer:
    """Read a whole JSON answer (a transcript) into `peer.extra`, closing it; a broken answer makes
    the machine missing (blocking: run it in a thread)."""
    if peer.response is None:
        return peer
    try:
        with peer.response as response:
            body = orjson.loads(response.read())
        peer.extra = body if isinstance(body, list) else []
    except (OSError, ValueError) as exc:
        log.warning("audit view: machine %s broke off its answer (%s)", peer.name, type(exc).__name__)
        peer.missing = NO_ANSWER
    peer.response = None
    return peer


def json_lines(peer: Peer) -> Iterator[dict[str, Any]]:
    """The rows of a JSON-lines answer, closing it at the end. A machine that breaks off mid-way
    raises: the merged answer then breaks off too, rather than end as if it were whole."""
    if peer.response is None:
        return
    try:
        for line in peer.response:
            if line.strip():
                yield orjson.loads(line)
    except (OSError, ValueError):
        log.warning("audit view: machine %s broke off its rows", peer.name)
        raise
    finally:
        peer.response.close()


def close(peers: Iterable[Peer]) -> None:
    for peer in peers:
        if peer.response is not None:
            peer.response.close()


def merge_rows(
    sources: Iterable[tuple[str, Iterator[dict[str, Any]]]], tag: bool
) -> Iterator[dict[str, Any]]:
    """Audit rows of several machines, each stream in time order, as one stream in time order: `ts`,
    then machine name, then the row's id in its own file (as audit/merge.py orders files)."""

    def keyed(name: str, rows: Iterator[dict[str, Any]]) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
        for row in rows:
            yield (
                str(row.get("ts", "")),
                name,
                int(row.get("id") or 0),
                ({"source": name, **row} if tag else row),
            )

    for *_, row in heapq.merge(*(keyed(name, rows) for name, rows in sources)):
        yield row


def merge_messages(
    sources: Iterable[tuple[str, list[dict[str, Any]]]], hidden: set[str], tag: bool
) -> list[dict[str, Any]]:
    """Transcripts of several machines as one, in `seq` order (messages without a seq last, as
    `transcript` orders them); a message any machine recorded as deleted, or seen twice, is left out."""
    keyed = []
    for name, messages in sources:
        for position, message in enumerate(messages):
            seq = message.get("seq")
            key = (seq is None, seq if isinstance(seq, int) else 0, name, position)
            keyed.append((key, {"source": name, **message} if tag else message))
    keyed.sort(key=lambda item: item[0])
    out, seen = [], set()
    for _, message in keyed:
        mid = message.get("id")
        if mid in hidden or (mid is not None and mid in seen):
            continue
        seen.add(mid)
        out.append(message)
    return out
