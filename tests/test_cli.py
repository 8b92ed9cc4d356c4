"""The command line as an operator meets it."""

from __future__ import annotations

import subprocess

from tests.support import CHATSERVER, ROOT, clean_env, free_port

BROKEN = """\
rooms:
  - id: calm
    title: Calm
    topic: Calm.
    colour: blue
  - id: Bad_Id
    title: Bad
    topic: Bad.
  - id: calm
    title: Calm again
    topic: Again.
"""


def test_check_rooms_accepts_the_shipped_file():
    """The rooms.yaml we ship is valid."""
    done = subprocess.run(
        [*CHATSERVER, "check-rooms", str(ROOT / "rooms.yaml")],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1


def test_check_rooms_and_serve_report_every_problem_with_its_line(tmp_path):
    """check-rooms lists each problem as PATH:LINE; serve on the same file exits with them, no traceback."""
    path = tmp_path / "rooms.yaml"
    path.write_text(BROKEN)
    check = subprocess.run(
        [*CHATSERVER, "check-rooms", str(path)], capture_output=True, text=True, env=clean_env()
    )
    assert check.returncode == 1
    for line in (5, 6, 9):
        assert f"rooms.yaml:{line}:" in check.stderr, check.stderr
    serve = subprocess.run(
        [
            *CHATSERVER,
            "serve",
            "--rooms",
            str(path),
            "--db",
            str(tmp_path / "c.db"),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert serve.returncode != 0
    for line in (5, 6, 9):
        assert f"rooms.yaml:{line}:" in serve.stderr
    assert "Traceback" not in serve.stderr


def test_workers_without_redis_are_refused(tmp_path):
    """--workers 2 without --redis exits with a message naming Redis."""
    done = subprocess.run(
        [
            *CHATSERVER,
            "serve",
            "--workers",
            "2",
            "--rooms",
            str(ROOT / "rooms.yaml"),
            "--db",
            str(tmp_path / "c.db"),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert done.returncode != 0 and "redis" in done.stderr.lower()
