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


def test_serve_without_the_web_ui_says_where_it_looked(tmp_path):
    """A CHATSERVER_WEB without index.html stops serve at once with the path and the setting to fix."""
    done = subprocess.run(
        [*CHATSERVER, "serve", "--port", str(free_port()), "--db", str(tmp_path / "chat.db")],
        capture_output=True,
        text=True,
        env=clean_env(CHATSERVER_WEB=str(tmp_path / "nowhere"), CHATSERVER_ROOMS=str(ROOT / "rooms.yaml")),
        timeout=30,
    )
    assert done.returncode == 1
    assert str(tmp_path / "nowhere") in done.stderr and "CHATSERVER_WEB" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_an_installed_wheel_serves_the_web_ui_outside_a_checkout(tmp_path):
    """`pip install` puts web/ under the prefix: the UI is served with no CHATSERVER_WEB, from anywhere."""
    import site
    import sys
    import venv

    import httpx

    from tests.support import wait_for

    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(wheels)], check=True, capture_output=True, timeout=180)
    prefix = tmp_path / "venv"
    venv.create(prefix, with_pip=False)
    # --ignore-installed: otherwise pip first uninstalls the test environment's own (editable) chatserver.
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q"]
    install += ["--prefix", str(prefix)]
    subprocess.run([*install, *map(str, wheels.glob("*.whl"))], check=True, capture_output=True, timeout=180)
    (installed,) = prefix.glob("lib/python3*/site-packages")
    # The dependencies come from the test's own environment (its .pth-free site-packages).
    (installed / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    port = free_port()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    command = [str(prefix / "bin" / "python"), "-m", "chatserver", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--rooms", str(ROOT / "rooms.yaml"), "--db", str(elsewhere / "chat.db")],
        cwd=elsewhere,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def page() -> httpx.Response | None:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            except httpx.HTTPError:
                return None

        response = wait_for(page, 30, "the installed server's front page")
        assert response.status_code == 200 and "<html" in response.text.lower()
        found = subprocess.run(
            [str(prefix / "bin" / "python"), "-c", "import chatserver; print(chatserver.__file__)"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            env=clean_env(),
        )
        assert found.stdout.startswith(str(installed)), "the installed copy, not the checkout, was tested"
    finally:
        proc.terminate()
        proc.wait(15)
