"""What the audit log promises: acked means recorded, even after SIGKILL; tampering is caught."""

from __future__ import annotations

import sqlite3


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
