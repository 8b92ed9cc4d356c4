"""The pages' words live in message catalogs (issue 19): every catalog has every English key with the
same {placeholders}, non-English catalogs say they await review, and no word a participant reads is
written into web/*.html or the participant scripts outside the catalogs. The host console and the
admin view have catalogs of their own (web/i18n/console/xx.json, on top of the participant's): the
same checks hold there, except that a console language may leave keys to English.

The scan is pragmatic, not a parser: it reads the pages' text and attributes, and the scripts' string
literals. A literal that reads like words (two words, or a sentence) fails anywhere but in a catalog
lookup, and so does any wordy literal handed to a text sink (textContent, placeholder, title,
aria-label, `el(...)` children, `flash`, `system`, `replaceChildren`...).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from tests.support import ROOT

WEB = ROOT / "web"
CATALOGS = WEB / "i18n"
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl")
#: The pages and scripts a participant reads.
PARTICIPANT_PAGES = ("index.html",)
PARTICIPANT_SCRIPTS = ("room.js", "common.js", "library.js", "warning.js", "i18n.js", "exit.js")
#: The host console and the admin view: their words are in i18n/console/xx.json (and the shared ones,
#: "Skip to content", "Cancel", in the participant's).
CONSOLE = CATALOGS / "console"
CONSOLE_PAGES = ("host.html", "admin.html")
CONSOLE_SCRIPTS = ("host.js", "admin.js", "person-card.js")
#: A literal that names a console key (checked against the catalog, with .one/.many for plurals).
CONSOLE_KEY = re.compile(r"^(?:host|admin|pcard|console)\.[\w.]*$")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def catalog(code: str) -> dict[str, object]:
    return json.loads((CATALOGS / f"{code}.json").read_text(encoding="utf-8"))


def words(entries: dict[str, object]) -> dict[str, str]:
    return {k: v for k, v in entries.items() if not k.startswith("_")}


def test_every_language_has_a_catalog_and_a_name_in_its_own_words() -> None:
    """languages.json lists the seven languages, each in its own name, and each has a catalog."""
    names = json.loads((CATALOGS / "languages.json").read_text(encoding="utf-8"))
    assert names == {
        "en": "English",
        "es": "Español",
        "fr": "Français",
        "de": "Deutsch",
        "pt": "Português",
        "it": "Italiano",
        "nl": "Nederlands",
    }
    for code in names:
        assert (CATALOGS / f"{code}.json").is_file(), code


@pytest.mark.parametrize("code", LANGUAGES[1:])
def test_catalog_has_every_english_key_with_the_same_placeholders(code: str) -> None:
    """A catalog lacking an English key, adding one English lacks, or changing a placeholder fails."""
    english = words(catalog("en"))
    other = words(catalog(code))
    missing = sorted(set(english) - set(other))
    extra = sorted(set(other) - set(english))
    assert not missing, f"{code}.json lacks {missing}"
    assert not extra, f"{code}.json has keys English does not: {extra}"
    for key, text in english.items():
        assert isinstance(other[key], str) and other[key].strip(), f"{code}.json {key} is empty"
        want = sorted(PLACEHOLDER.findall(str(text)))
        got = sorted(PLACEHOLDER.findall(str(other[key])))
        assert got == want, f"{code}.json {key}: placeholders {got}, English has {want}"


@pytest.mark.parametrize("code", LANGUAGES[1:])
def test_translations_are_marked_as_awaiting_review(code: str) -> None:
    """Every non-English catalog says it awaits review by native speakers, and its direction."""
    meta = catalog(code)["_meta"]
    assert isinstance(meta, dict)
    assert meta["status"] == "awaiting review by native speakers"
    assert meta["dir"] in ("ltr", "rtl")


def test_catalog_words_are_plain_text() -> None:
    """Catalog values reach the page as text only; markup in one is a mistake (and a risk)."""
    for code in LANGUAGES:
        for key, text in words(catalog(code)).items():
            assert not re.search(r"<\s*[a-z/!]", str(text), re.I), f"{code}.json {key} holds markup"


def test_helplines_stay_in_the_crisis_words_of_every_language() -> None:
    """Safe messaging: the crisis card keeps pointing to help, and no catalog promises a host always."""
    for code in LANGUAGES:
        entries = words(catalog(code))
        assert entries["help.open"] in entries["card.foot"], code
        assert entries["help.open"] in entries["card.foot_unhosted"], code
        assert entries["help.open"] in entries["code.mode.read_only"], code


# ---- nothing bypasses the catalogs ----------------------------------------------------------
LETTERS = re.compile(r"[A-Za-zÀ-ÿ]{2,}")
#: Text that is not words: arrows and signs a page shows as they are.
SIGNS = re.compile(r"^[\s←→↓↑⋯·•…|/×+\-–—:()]*$")
#: Attributes a person reads (or hears).
READ_ATTRS = ("title", "aria-label", "placeholder", "alt", "aria-description")


class PageText(HTMLParser):
    """Text nodes and read attributes of a page that no data-i18n / data-i18n-attr covers."""

    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []  # (tag, covered by data-i18n here or above)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        covered_attrs = {
            pair.split(":")[0].strip() for pair in (values.get("data-i18n-attr") or "").split(",") if pair
        }
        for name in READ_ATTRS:
            if values.get(name) and LETTERS.search(values[name] or "") and name not in covered_attrs:
                self.problems.append(f"<{tag} {name}={values[name]!r}> is not from the catalogs")
        if tag in self.VOID:
            return
        above = bool(self.stack) and self.stack[-1][1]
        slot = "data-i18n-slot" in values
        self.stack.append((tag, (above and not slot) or "data-i18n" in values))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text or SIGNS.match(text) or not LETTERS.search(text):
            return
        tags = [t for t, _ in self.stack]
        if "noscript" in tags or "script" in tags or "style" in tags:
            return  # before any script runs there is no catalog to read
        if "code" in tags:
            return  # a command to type, the same in every language
        if not (self.stack and self.stack[-1][1]):
            self.problems.append(f"text {text!r} in <{tags[-1] if tags else '?'}> is not from the catalogs")


def page_problems(html: str) -> list[str]:
    parser = PageText()
    parser.feed(html)
    return parser.problems


# String literals of a script, found by a small scanner that knows comments, regex literals and
# template literals (their ${...} parts count as a space): (offset, quote, body).
REGEX_BEFORE = re.compile(r"(?:[(,=:\[!&|?{};+\-*%<>~^]|\breturn|\btypeof|^)\s*$")


def literals(code: str) -> list[tuple[int, str, str]]:
    out = []
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            i = code.find("\n", i)
            i = n if i < 0 else i
        elif code.startswith("/*", i):
            i = code.find("*/", i + 2)
            i = n if i < 0 else i + 2
        elif c in "\"'`":
            j, body = i + 1, []
            while j < n and code[j] != c:
                if code[j] == "\\":
                    body.append(code[j : j + 2])
                    j += 2
                elif c == "`" and code.startswith("${", j):
                    depth, j = 1, j + 2
                    while j < n and depth:
                        depth += {"{": 1, "}": -1}.get(code[j], 0)
                        j += 1
                    body.append(" ")
                else:
                    body.append(code[j])
                    j += 1
            out.append((i, c, "".join(body)))
            i = j + 1
        elif c == "/" and REGEX_BEFORE.search(code[max(0, i - 12) : i]):
            j, in_class = i + 1, False
            while j < n and code[j] != "\n" and (in_class or code[j] != "/"):
                if code[j] == "\\":
                    j += 1
                elif code[j] == "[":
                    in_class = True
                elif code[j] == "]":
                    in_class = False
                j += 1
            i = j + 1
        else:
            i += 1
    return out


#: Where a literal is a catalog key, a selector, a class list or some other name, not words.
NAME_CONTEXT = re.compile(
    r"(?:\b(?:t|tParts|tEl|translate|translateAttr|has)\s*\(\s*(?:[^,()]*,\s*)?(?:\{[^{}]*\},\s*)?"
    r"|\$\(\s*|querySelector(?:All)?\(\s*|class(?:Name)?\s*[:=]\s*|classList\.\w+\(\s*|rel\s*:\s*"
    r"|addEventListener\(\s*|closest\(\s*|import\s[^;]*?from\s*|getItem\(\s*|matchMedia\(\s*|dataset\.\w+\s*=\s*"
    r"|\bkey\s*[+=]\s*|(?:startsWith|endsWith|includes)\(\s*|new RegExp\(|\bcode\s*===\s*)$"
)
#: Where a literal is shown to a person as it is.
SINK = re.compile(
    r"(?:textContent\s*=\s*|innerText\s*=\s*|placeholder\s*=\s*|\btitle\s*[:=]\s*|\"aria-label\"\s*:\s*"
    r"|setAttribute\(\s*\"(?:aria-label|title|placeholder|alt)\"\s*,\s*|\btext\s*:\s*|\blabel\s*:\s*"
    r"|\bflash\(\s*\w+\s*,\s*|\bsystem\(\s*|\bannounceText\(\s*|replaceChildren\(\s*|\.append\(\s*"
    r"|\bel\(\s*\"\w+\"\s*,\s*(?:\{[^{}]*\}|null|\w+)\s*,\s*(?:[^;{}]*?,\s*)?|document\.title\s*=\s*)$"
)
PROSE = re.compile(r"[A-Za-zÀ-ÿ]{2,}[.,!?;:…]?\s+[A-Za-zÀ-ÿ(“\"']")
#: A catalog key ("send.sent") or a data-i18n-attr spec ("title:badge.set_title"): names, not words.
KEY = re.compile(r"^(?:[\w-]+:)?[a-z_]+(?:\.\w+)+(?:,(?:[\w-]+:)?[a-z_]+(?:\.\w+)+)*$")


def script_problems(source: str) -> list[str]:
    """String literals in a script that look like words a person reads, outside the catalogs."""
    problems = []
    for start, _quote, body in literals(source):
        if not LETTERS.search(body):
            continue
        before = source[max(0, start - 160) : start]
        line = source.count("\n", 0, start) + 1
        if NAME_CONTEXT.search(before):
            continue
        if body.startswith(("/", "#", ".", "[", ":", "http", "cs.", "tel:", "sms:")):
            continue  # paths, selectors, storage keys, link schemes
        if KEY.match(body.strip()):
            continue
        # Words: two of them anywhere, one capitalised anywhere, or any word handed to a text sink.
        if (
            PROSE.search(body)
            or re.match(r"\s*[A-Z][a-zà-ÿ]", body)
            or (SINK.search(before) and LETTERS.search(body))
        ):
            problems.append(f"line {line}: {body[:60]!r}")
    return problems


#: Literals in the participant scripts that are names, not words (checked by hand, kept short).
ALLOWED = {
    "Escape",
    "Enter",
    "published",
    "held",
    "rejected",
    "sending",
    "interrupted",
    "released",
    "failed",
    "sent",
    "warn",
    "mode",
    "info",
    "alert",
    "status",
    "nearest",
    "region",
    "language",
    "time",
    "clock",
    "day",
    "longday",
    "relative",
    "month",
    "minute",
    "hour",
    "always",
    "long",
    "numeric",
    "2-digit",
    "ltr",
    "rtl",
    "auto",
    # The name English has before languages.json arrives (a language's name in its own words).
    "English",
    # The console's names: the tag and class lists handed to textEl, browser API and error names,
    # an HTTP header, and the admin command quoted in a catalog sentence as {command}.
    "span",
    "held-text blurred",
    "line host",
    "hint shield-on",
    "Notification",
    "AbortError",
    "Bearer  ",
    "refused ( )",
    "chatserver hosts add NAME --admin",
}


def real_problems(problems: list[str]) -> list[str]:
    return [p for p in problems if p.split(": ", 1)[1].strip("'\"") not in ALLOWED]


@pytest.mark.parametrize("name", PARTICIPANT_PAGES)
def test_page_words_come_from_the_catalogs(name: str) -> None:
    """Every text node and read attribute of a participant page has a data-i18n key."""
    assert page_problems((WEB / name).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("name", PARTICIPANT_SCRIPTS)
def test_script_words_come_from_the_catalogs(name: str) -> None:
    """No participant script writes words of its own; it looks them up (t, tEl, tParts)."""
    assert real_problems(script_problems((WEB / name).read_text(encoding="utf-8"))) == []


def test_every_key_the_pages_use_is_in_the_english_catalog() -> None:
    """A key used in a page or a script that the catalogs lack would show the key itself."""
    english = words(catalog("en"))
    used: set[str] = set()
    for name in PARTICIPANT_PAGES:
        html = (WEB / name).read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n="([\w.]+)"', html))
        for spec in re.findall(r'data-i18n-attr="([^"]+)"', html):
            used |= {pair.split(":")[1].strip() for pair in spec.split(",")}
    for name in PARTICIPANT_SCRIPTS:
        source = (WEB / name).read_text(encoding="utf-8")
        used |= set(re.findall(r"""\b(?:t|tParts|has)\(\s*"([\w.]+)\"""", source))
        used |= set(re.findall(r"""\b(?:tEl)\([^;]*?"([a-z_]+\.[\w.]+)\"""", source))
        used |= set(re.findall(r"""\btranslate(?:Attr)?\([^;]*?"([a-z_]+\.[\w.]+)\"""", source))
        used |= set(re.findall(r"""label:\s*"([a-z_]+\.[\w.]+)\"""", source))
    missing = sorted(
        k for k in used if k not in english and not k.startswith(("code.", "reason.", "help.or"))
    )
    assert missing == []


@pytest.mark.parametrize(
    "snippet",
    [
        'node.textContent = "Hello";',
        'el("p", {}, "Welcome back");',
        "flash(toast, `You are ${n} here`);",
        'input.placeholder = "Type here";',
        'el("button", { "aria-label": "Close" }, t("action.close"));',
        'box.append(el("p", { class: "hint" }, "Something went wrong."));',
    ],
)
def test_the_scan_finds_words_written_into_a_script(snippet: str) -> None:
    """The scan is real: words written straight into a script are found."""
    assert real_problems(script_problems(snippet)) != []


@pytest.mark.parametrize(
    "snippet",
    [
        'node.textContent = t("send.sent");',
        'el("p", { class: "hint res-text" }, t("help.anywhere"));',
        'tEl("span", {}, "room.joined", { name });',
        '$("#help-card-foot").textContent = t("card.foot");',
    ],
)
def test_the_scan_lets_catalog_lookups_through(snippet: str) -> None:
    """Catalog lookups, selectors and class lists are not words."""
    assert real_problems(script_problems(snippet)) == []


def test_the_scan_finds_words_written_into_a_page() -> None:
    """A page's text or title without a data-i18n key is found; one with a key is not."""
    assert page_problems('<p>Hello there</p><button title="Close it">x</button>') != []
    assert page_problems('<p data-i18n="a.b">Hello there</p>') == []
    assert page_problems('<h1 data-i18n="g.t">Before <bdi data-i18n-slot="room">Room</bdi></h1>') != []


# ---- the host console and the admin view ---------------------------------------------------------
def console_catalog(code: str) -> dict[str, str]:
    return words(json.loads((CONSOLE / f"{code}.json").read_text(encoding="utf-8")))


def console_languages() -> list[str]:
    return sorted(p.stem for p in CONSOLE.glob("*.json"))


def page_languages(name: str) -> list[str]:
    html = (WEB / name).read_text(encoding="utf-8")
    found = re.search(r'<meta name="i18n-languages" content="([^"]*)">', html)
    assert found, f"{name} does not say which languages it speaks"
    return found.group(1).split()


@pytest.mark.parametrize("name", CONSOLE_PAGES)
def test_console_page_words_come_from_the_catalogs(name: str) -> None:
    """Every text node and read attribute of the host console and the admin view has a data-i18n key."""
    html = (WEB / name).read_text(encoding="utf-8")
    assert '<meta name="i18n-catalog" content="console">' in html
    assert page_problems(html) == []


@pytest.mark.parametrize("name", CONSOLE_SCRIPTS)
def test_console_script_words_come_from_the_catalogs(name: str) -> None:
    """No console script writes words of its own; it looks them up (t, tEl, tParts, translate)."""
    assert real_problems(script_problems((WEB / name).read_text(encoding="utf-8"))) == []


def test_every_key_the_console_uses_is_in_the_english_catalogs() -> None:
    """A console key used in a page or a script that English lacks would show the key itself."""
    english = words(catalog("en")) | console_catalog("en")
    used: set[str] = set()
    for name in CONSOLE_PAGES:
        html = (WEB / name).read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n="([\w.]+)"', html))
        for spec in re.findall(r'data-i18n-attr="([^"]+)"', html):
            used |= {pair.split(":")[1].strip() for pair in spec.split(",")}
    missing = sorted(k for k in used if k not in english)
    for name in CONSOLE_SCRIPTS:
        for _start, _quote, body in literals((WEB / name).read_text(encoding="utf-8")):
            if not CONSOLE_KEY.match(body):
                continue
            if body.endswith("."):  # a prefix completed at run time: some key must start with it
                found = any(k.startswith(body) for k in english)
            else:  # a key, or a plural's stem (stem.one, stem.many)
                found = body in english or {body + ".one", body + ".many"} <= set(english)
            if not found:
                missing.append(f"{name}: {body}")
    assert missing == []


def test_console_keys_are_the_consoles_own() -> None:
    """A console key never repeats a participant key: one word, one meaning, one place to change it."""
    assert sorted(set(console_catalog("en")) & set(words(catalog("en")))) == []


def test_every_language_the_console_offers_has_a_console_catalog() -> None:
    """The pages offer exactly the languages with a console catalog, and those have participant ones."""
    for name in CONSOLE_PAGES:
        assert sorted(page_languages(name)) == console_languages(), name
    for code in console_languages():
        assert (CATALOGS / f"{code}.json").is_file(), code


@pytest.mark.parametrize("code", [c for c in console_languages() if c != "en"])
def test_console_catalog_has_no_key_english_lacks(code: str) -> None:
    """A console catalog may leave words to English, but adds none and keeps every placeholder."""
    english = console_catalog("en")
    other = console_catalog(code)
    assert sorted(set(other) - set(english)) == [], f"console/{code}.json has keys English does not"
    for key, text in other.items():
        assert text.strip(), f"console/{code}.json {key} is empty"
        want = sorted(PLACEHOLDER.findall(english[key]))
        got = sorted(PLACEHOLDER.findall(text))
        assert got == want, f"console/{code}.json {key}: placeholders {got}, English has {want}"
        assert not re.search(r"<\s*[a-z/!]", text, re.I), f"console/{code}.json {key} holds markup"


@pytest.mark.parametrize("code", [c for c in console_languages() if c != "en"])
def test_console_translations_are_marked_as_awaiting_review(code: str) -> None:
    """Every non-English console catalog says it awaits review by native speakers, and its direction."""
    meta = json.loads((CONSOLE / f"{code}.json").read_text(encoding="utf-8"))["_meta"]
    assert meta["status"] == "awaiting review by native speakers"
    assert meta["dir"] in ("ltr", "rtl")


def test_the_console_key_check_finds_a_missing_key() -> None:
    """The key check is real: a made-up console key is not in the catalogs, a real one is."""
    english = console_catalog("en")
    assert "host.no_such_words" not in english
    assert CONSOLE_KEY.match("host.no_such_words") and "host.queue.empty" in english
