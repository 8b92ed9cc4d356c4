"""One audit view of several machines (issue 18): `audit export` and `audit verify` over several
database files, each still its own hash chain."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from chatserver.audit import AuditLog, utc_now
from chatserver.audit.merge import expand, export_merged
from chatserver.errors import ChatError
from tests.support import cli


def export(*paths: Path | str, extra: tuple[str, ...] = ()) -> list[dict]:
    args = [a for p in paths for a in ("--db", str(p))]
    done = cli("audit", "export", *args, *extra)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


async def test_rows_of_two_files_come_out_in_time_order_each_naming_its_file(tmp_path: Path):
    """Rows written alternately to two files are exported as one stream in the order they were written."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    logs = [await AuditLog.open(a), await AuditLog.open(b)]
    try:
        stamp = ""
        for i in range(6):
            while utc_now() == stamp:  # distinct milliseconds, so time order is the writing order
                await asyncio.sleep(0.001)
            stamp = logs[i % 2].append("published", room="lobby", text=f"m{i}", seq=i + 1)
            await logs[i % 2].flush()
    finally:
        for log in logs:
            await log.close()
    rows = export(a, b)
    assert [r["text"] for r in rows] == [f"m{i}" for i in range(6)]
    assert [r["source"] for r in rows] == [str(a), str(b)] * 3
    assert [r["id"] for r in rows] == [1, 1, 2, 2, 3, 3]  # each file's own ids and chain
    out = io.StringIO()
    assert export_merged([a, b], out, fmt="csv", kind="published") == 6
    table = list(csv.reader(io.StringIO(out.getvalue())))
    assert table[0][:3] == ["source", "id", "ts"] and [row[0] for row in table[1:3]] == [str(a), str(b)]
    assert "source" not in export(a)[0]  # one file: the export it always was
    with pytest.raises(ChatError, match="No database at"):
        expand([str(tmp_path / "*.sqlite")])


@pytest.mark.redis
async def test_two_machines_one_export_in_order_and_verify_names_a_tampered_file(
    redis_server, make_server, clients, tmp_path: Path
):
    """Two servers (two db files, one Redis): one export holds both machines' messages in time order
    with the room's seq consecutive; verify checks both chains and fails naming the tampered file."""
    a = make_server(redis=redis_server.url, label="machine_a")
    b = make_server(redis=redis_server.url, label="machine_b")
    ann = await clients.user(a, "ann", ("lobby",))
    bo = await clients.user(b, "bo", ("lobby",))
    sent = []
    for i in range(4):
        who = (ann, bo)[i % 2]
        text = f"{who.label} says {i}"
        assert (await who.post("lobby", text))["status"] == "published"
        await ann.expect("message", text=text, timeout=10)  # seen everywhere before the next one
        sent.append(text)

    rows = export(a.db_path, b.db_path)
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    assert {r["source"] for r in rows} == {str(a.db_path), str(b.db_path)}
    published = [r for r in rows if r["kind"] == "published" and r["room"] == "lobby"]
    assert [r["text"] for r in published] == sent
    assert [r["seq"] for r in published] == list(range(published[0]["seq"], published[0]["seq"] + 4))
    assert [r["source"] for r in published] == [str(a.db_path), str(b.db_path)] * 2
    glob = str(a.db_path.parent.parent / "machine_*" / "chat.db")  # a glob names both files too
    assert export(glob, extra=("--kind", "published")) == published

    both = cli("audit", "verify", "--db", glob)
    assert both.returncode == 0, both.stderr
    assert f"{a.db_path}: OK" in both.stdout and f"{b.db_path}: OK" in both.stdout

    b.stop()
    conn = sqlite3.connect(b.db_path)
    with conn:
        conn.execute("UPDATE audit SET text = 'something else' WHERE kind = 'published'")
    conn.close()
    broken = cli("audit", "verify", "--db", str(a.db_path), "--db", str(b.db_path))
    assert broken.returncode == 1
    assert f"{a.db_path}: OK" in broken.stdout
    assert f"{b.db_path}: FAILED at row" in broken.stderr and "altered" in broken.stderr
    assert str(a.db_path) not in broken.stderr
