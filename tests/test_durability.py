"""What the audit log promises: acked means recorded, even after SIGKILL; tampering is caught."""

from __future__ import annotations

import sqlite3

import pytest


async def test_every_acked_message_survives_sigkill(server, clients):
    """After SIGKILL of a server that acked N messages, all N are in `audit export`."""
    ann = await clients.user(server, "ann", ("lobby",))
    acked = []
    for i in range(30):
        await ann.send(type="send", room="lobby", text=f"durable {i}", client_id=f"c{i}")
    for i in range(30):
        ack = await ann.expect("ack", client_id=f"c{i}", timeout=10)
        acked.append(ack["id"])
    server.kill()
    rows = server.export("--room", "lobby", "--kind", "published")
    assert set(acked) <= {r["message_id"] for r in rows}


async def test_audit_verify_catches_an_edited_row(server, clients):
    """`audit verify` passes, then fails naming the row once someone edits a message in the file."""
    ann = await clients.user(server, "ann", ("lobby",))
    ack = await ann.post("lobby", "the original words")
    server.stop()
    assert server.cli("audit", "verify").returncode == 0
    with sqlite3.connect(server.db_path) as db:
        row_id = db.execute("SELECT id FROM audit WHERE message_id = ?", (ack["id"],)).fetchone()[0]
        db.execute("UPDATE audit SET text = 'softer words' WHERE id = ?", (row_id,))
    done = server.cli("audit", "verify")
    assert done.returncode == 1
    assert str(row_id) in done.stdout + done.stderr


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_one_send_writes_its_audit_row_once_with_its_seq(make_server, clients, request, backend):
    """Each message's audit row is inserted once, already holding its seq, and never updated.

    The database refuses every UPDATE of an audit row (a trigger the test adds): a server that
    wrote the seq afterwards would fail its commits, and its senders would hear `unavailable`.
    """
    redis = request.getfixturevalue("redis_server").url if backend == "redis" else None
    server = make_server(redis=redis, start=False)
    with sqlite3.connect(server.db_path) as db:
        db.execute(
            "CREATE TRIGGER written_once BEFORE UPDATE ON audit"
            " BEGIN SELECT RAISE(ABORT, 'audit rows are written once'); END"
        )
    server.start()
    ann = await clients.user(server, "ann", ("lobby",))
    acks = [await ann.post("lobby", f"said once {i}") for i in range(20)]
    assert [a.get("status") for a in acks] == ["published"] * 20, acks
    with sqlite3.connect(server.db_path) as db:
        stored = db.execute(
            "SELECT message_id, seq FROM audit WHERE room = 'lobby' AND kind = 'published' ORDER BY id"
        ).fetchall()
    assert stored == [(a["id"], i + 1) for i, a in enumerate(acks)]
