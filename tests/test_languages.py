"""Room texts in several languages (issue 19): codes, resolution and the asked-for language."""

from __future__ import annotations

from chatserver.rooms.languages import SHIPPED, known, requested, resolve, valid_tag


def test_shipped_languages_are_known_codes() -> None:
    """Every shipped language is an ISO 639-1 code; made-up codes are not."""
    assert all(known(code) for code in SHIPPED)
    assert not known("xx") and not known("english") and not known("EN")


def test_resolve_exact_then_base_then_fallback() -> None:
    """A map is read exact, then the base language, then the fallback; a string is the fallback."""
    title = {"en": "Grief and loss", "es": "Duelo y pérdida", "pt": "Luto e perda"}
    assert resolve(title, "es", "en") == ("Duelo y pérdida", "es")
    assert resolve(title, "pt-BR", "en") == ("Luto e perda", "pt")
    assert resolve(title, "de", "en") == ("Grief and loss", "en")
    assert resolve(title, None, "en") == ("Grief and loss", "en")
    assert resolve("Plain", "es", "en") == ("Plain", "en")


def test_requested_prefers_query_then_accept_language() -> None:
    """`?lang=` wins; else the highest-weighted valid Accept-Language entry; junk is ignored."""
    assert requested("fr", "es;q=0.9") == "fr"
    assert requested(None, "de-CH, es;q=0.9") == "de-CH"
    assert requested(None, "es;q=0.4, nl;q=0.8") == "nl"
    assert requested("<script>", None) is None
    assert requested(None, "*;q=1, ;q=x") is None


def test_valid_tag_bounds() -> None:
    """A language tag is short ASCII letters/digits joined by hyphens."""
    assert valid_tag("es") and valid_tag("pt-BR")
    assert not valid_tag("") and not valid_tag(5) and not valid_tag("a" * 40)


def test_every_error_and_notice_frame_carries_a_code() -> None:
    """Errors and notices are built in one place each, and neither can be built without a `code`."""
    import inspect
    import pathlib
    import re

    from chatserver import errors, frames, protocol

    for build in (frames.notice, protocol.error_frame):
        code = inspect.signature(build).parameters["code"]
        assert code.default is inspect.Parameter.empty, build
    assert frames.notice("done", "Done.")["code"] == "done"
    assert protocol.error_frame("bad_request", "No.")["code"] == "bad_request"
    kinds: list[type[errors.ChatError]] = [errors.ChatError, *errors.ChatError.__subclasses__()]
    for kind in kinds:
        assert isinstance(kind.code, str) and kind.code, kind
    literal = re.compile(r"""["']type["']\s*:\s*["'](error|notice)["']""")
    for path in pathlib.Path(frames.__file__).parent.rglob("*.py"):
        if path.name not in ("frames.py", "protocol.py"):
            assert not literal.search(path.read_text()), f"{path} builds an error/notice frame itself"
