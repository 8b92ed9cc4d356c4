"""Word matching that sees through leetspeak, and the blocklist filter built on it.

`WordMatcher` turns plain words and phrases into one precompiled regex that
matches them as whole words, case-insensitively, with each letter also matching
its leetspeak look-alikes (K1LL, @ss), stretched (kiiill) or split by
punctuation (k.i.l.l). Words inside longer words do not match: "skilled" is
not "kill".

Two constraints shape the regex. Speed: the hub runs this on every message,
and CPython's `re` pays per alternative tried at each position, so the
phrases are merged into a trie and the pattern starts with a plain character
class (no IGNORECASE: cases are spelled out), which lets `re` skip to the
few positions that can start a phrase. Safety: a message is attacker-controlled,
and `[i1|]+[l1|]+` backtracks polynomially on "1111…", so every run of one
letter is possessive and bounded, and no two letters' classes share a
character. The one truly ambiguous look-alike, "1" (and "|"), which is both i
and l, is handled by searching the text as written and, only when it holds a 1
or |, again with them read as i and as l.

Text that is not pure ASCII is first folded (`chatserver.textfold.fold`: NFKC,
case, invisible characters dropped, letters of other scripts that look Latin
mapped), so "mоron" with a Cyrillic о, full-width "ｍｏｒｏｎ" and "mo\u200bron"
are "moron"; phrases are folded the same way. Letters spelt out one at a time
("m o r o n", "k . i . l . l") are searched once more with the run joined up.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any

from chatserver.filters.base import (
    Filter,
    FilterConfigError,
    MessageContext,
    Verdict,
    option_choice,
    option_strings,
)
from chatserver.textfold import fold

# Look-alikes people type instead of a letter; the classes must stay disjoint (see above).
_LEET = {
    "a": "a4@",
    "b": "b8",
    "e": "e3",
    "g": "g9",
    "i": "i!",
    "o": "o0",
    "s": "s5$",
    "t": "t7",
}
_DELEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_APOSTROPHES = "'\u2019\u2018`\u00b4"
_APOSTROPHE = f"[{_APOSTROPHES}]?"  # can't, can’t and cant are the same word
_IN_WORD = r"[^\w\s]?"  # a punctuation mark between letters: k.i.l.l, k-i-l-l
_BETWEEN_WORDS = r"[\W_]{0,3}"  # "self harm", "self-harm" and "selfharm"
_STRETCH = 15  # "kiiiiill": extra repeats of a letter still recognised
_END = r"(?![^\W_])"  # not followed by a letter or digit
# A 1 or | touching a letter may stand for i or l ("k1ll", "ki11"); "10:30" needs no second look.
_ONE_IN_WORD = re.compile(r"[1|](?=[^\W\d_])|(?<=[^\W\d_])[1|]")

_SPELT = r"[\W_]{1,3}"  # between the letters of a word spelt out one at a time: "m o r o n", "k . i . l . l"
_SPELT_MIN = 3  # letters a phrase needs before its spelt-out form is matched too ("o k" is not "ok")
# Letters spelt out before or after a match, to find the whole spelt-out word for the allow list.
_SPELT_BEFORE = re.compile(r"(?:[^\W_][\W_]{1,3})+$")
_SPELT_AFTER = re.compile(r"(?:[\W_]{1,3}[^\W_](?![^\W_]))+")

# ("run", letter, count) | ("gap", "", 0) | ("apos", "", 0) | ("lit", char, 0) | ("spelt", "", 0)
_Token = tuple[str, str, int]


def _chars(letter: str) -> str:
    chars = set(_LEET.get(letter, letter)) | {letter}
    upper = letter.upper()
    if len(upper) == 1:
        chars.add(upper)
    return "".join(sorted(chars))


def _cls(letter: str) -> str:
    chars = _chars(letter)
    return "[" + re.escape(chars) + "]" if len(chars) > 1 else re.escape(chars)


def _tokens(phrase: str) -> tuple[_Token, ...]:
    text = " ".join(fold(phrase).split())
    # A phrase starts and ends with a letter or digit: that is what the word boundaries check.
    start = next((i for i, ch in enumerate(text) if ch.isalnum()), len(text))
    end = next((i + 1 for i in range(len(text) - 1, -1, -1) if text[i].isalnum()), start)
    text = text[start:end]
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == " " or ch in "-_":
            if tokens[-1][0] != "gap":
                tokens.append(("gap", "", 0))
            i += 1
        elif ch in _APOSTROPHES:
            tokens.append(("apos", "", 0))
            i += 1
        elif ch.isalnum():
            j = i
            while j < len(text) and text[j] == ch:
                j += 1
            tokens.append(("run", ch, j - i))
            i = j
        else:
            tokens.append(("lit", ch, 0))
            i += 1
    return tuple(tokens)


def _spelt_out(tokens: tuple[_Token, ...]) -> list[tuple[_Token, ...]]:
    # The phrase with the letters of its words spelt out one at a time, with a "spelt" separator
    # between the letters of a spelt word. Apostrophes go inside a spelt word, where the separator
    # covers them ("c a n ' t"). At least _SPELT_MIN letters must be spelt ("o k" is not "ok").
    words: list[list[_Token]] = [[]]
    for token in tokens:
        if token[0] == "gap":
            words.append([])
        else:
            words[-1].append(token)
    choices = []
    for word in words:
        letters = sum(count for kind, _, count in word if kind == "run")
        spelt: list[_Token] = []
        for kind, letter, count in word:
            if kind == "run":
                for _ in range(count):
                    if spelt and spelt[-1][0] == "run":
                        spelt.append(("spelt", "", 0))
                    spelt.append(("run", letter, 1))
            elif kind != "apos":
                spelt.append((kind, letter, count))
        choices.append([(tuple(word), 0), (tuple(spelt), letters)] if letters > 1 else [(tuple(word), 0)])
    # Every word spelt out, or one word alone: "k i l l m y s e l f", "k i l l myself", "kill m y s e l f".
    combinations = [[c[-1] for c in choices]]
    for i, options in enumerate(choices):
        if len(options) > 1 and len(choices) > 1:
            combinations.append([options[1] if j == i else c[0] for j, c in enumerate(choices)])
    forms = []
    for combination in combinations:
        if sum(letters for _, letters in combination) >= _SPELT_MIN:
            form: list[_Token] = []
            for word_tokens, _ in combination:
                if form:
                    form.append(("gap", "", 0))
                form.extend(word_tokens)
            forms.append(tuple(form))
    return forms


def _run(letter: str, count: int, *, first_consumed: bool) -> str:
    # Possessive and bounded (see the module docstring); "l.l" is the separated spelling of "ll".
    cls = _cls(letter)
    have = 1 if first_consumed else 0
    stretched = f"{cls}{{{count - have},{count - have + _STRETCH}}}+"
    if count == 1:
        return stretched
    spaced = ("" if first_consumed else cls) + f"(?:[^\\w\\s]{cls}){{{count - 1}}}"
    return f"(?:{stretched}|{spaced})"


def _render(node: dict[Any, Any], prev_run: bool) -> str:
    alternatives = []
    for token, child in node.items():
        if token is None:
            continue
        kind, letter, count = token
        if kind == "run":
            head = (_IN_WORD if prev_run else "") + _run(letter, count, first_consumed=False)
        elif kind == "gap":
            head = _BETWEEN_WORDS
        elif kind == "spelt":
            head = _SPELT
        elif kind == "apos":
            head = _APOSTROPHE
        else:
            head = re.escape(letter)
        alternatives.append(head + _render(child, kind == "run"))
    if None in node:
        alternatives.append(_END)
    if len(alternatives) == 1:
        return alternatives[0]
    return "(?:" + "|".join(alternatives) + ")"


def phrase_regex(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One compiled regex matching any of `phrases` as whole words, or None when there are none.

    A phrase of three letters or more also matches spelt out, one letter at a time ("m o r o n",
    "k i l l myself"): each spelt-out form is a branch of its own in the trie below its first
    letter, so one search looks for all of them and a failed try at one costs at most its length.
    """
    trie: dict[Any, Any] = {}
    for phrase in phrases:
        tokens = _tokens(phrase)
        if not tokens:
            continue
        for form in (tokens, *_spelt_out(tokens)):
            node = trie
            for token in form:
                node = node.setdefault(token, {})
            node[None] = True
    if not trie:
        return None
    # The regex starts with one class, every phrase's first letter: `re` then skips from one place
    # holding such a letter to the next in a tight loop instead of trying the pattern at every
    # place (about a third less time per message than starting with the character before the
    # phrase). That letter must start a word (the negative lookbehind: the character before it, if
    # any, is no letter or digit); then each branch checks which letter it was and goes on.
    branches = [
        f"(?<={_cls(letter)})" + _run(letter, count, first_consumed=True) + _render(child, True)
        for (_, letter, count), child in trie.items()
    ]
    first = "[" + re.escape("".join(sorted({c for _, letter, _ in trie for c in _chars(letter)}))) + "]"
    return re.compile("(" + first + r"(?<![^\W_].)(?:" + "|".join(branches) + "))")


def phrase_problem(phrase: str) -> str | None:
    """Why `phrase` cannot be matched, or None when it can."""
    if not any(ch.isalnum() for ch in phrase):
        return f"{phrase!r} has no letter or digit to match"
    return None


def deleet(text: str) -> str:
    """Fold `text` (lower case, look-alikes mapped) and undo the common leetspeak (1 becomes i)."""
    return fold(text).translate(_DELEET)


class WordMatcher:
    """Finds any of a list of words or phrases in a text, as whole words, through leetspeak and disguises."""

    __slots__ = ("regex",)

    def __init__(self, phrases: Iterable[str]) -> None:
        self.regex = phrase_regex(phrases)

    def search(self, text: str) -> bool:
        """True when any phrase occurs in `text` (folded first unless it is plain ASCII)."""
        return self.search_folded(text if text.isascii() else fold(text))

    def search_folded(self, text: str) -> bool:
        """`search` for a text that is already folded (`textfold.fold`) or plain ASCII."""
        return self.regex is not None and _search(self.regex, " " + text)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of every match in `text`, in each reading of 1 and |.

        `text` must already be folded (`textfold.fold`) unless it is plain ASCII: the spans are
        offsets into the text as given.
        """
        if self.regex is None:
            return
        readings = [text]
        if ("1" in text or "|" in text) and _ONE_IN_WORD.search(text) is not None:
            readings += [text.replace("1", "i").replace("|", "i"), text.replace("1", "l").replace("|", "l")]
        for reading in readings:  # same length as `text`, so spans line up
            for match in self.regex.finditer(" " + reading):
                yield match.start(1) - 1, match.end(1) - 1


def _search(regex: re.Pattern[str], text: str) -> bool:
    """`regex` found in `text` as written, or with 1 and | read as i, or as l."""
    if regex.search(text) is not None:
        return True
    if ("1" in text or "|" in text) and _ONE_IN_WORD.search(text) is not None:
        return (
            regex.search(text.replace("1", "i").replace("|", "i")) is not None
            or regex.search(text.replace("1", "l").replace("|", "l")) is not None
        )
    return False


class BlocklistFilter(Filter):
    """Hold (or reject) messages containing listed words or matching listed regexes.

    `words` match whole words, case- and leetspeak-insensitively, through
    look-alike letters and spelt-out spellings; `patterns` are regular
    expressions matched case-insensitively against the text as written and
    as folded (`textfold.fold`); a match whose whole word is in `allow` is ignored.
    """

    name = "blocklist"
    checks_labels = True

    def __init__(
        self,
        *,
        words: list[str] | tuple[str, ...] = (),
        patterns: list[str] | tuple[str, ...] = (),
        allow: list[str] | tuple[str, ...] = (),
        action: str = "hold",
        **common: Any,
    ) -> None:
        super().__init__(**common)
        self.words = option_strings("words", words)
        self.patterns = option_strings("patterns", patterns)
        self.allow = frozenset(deleet(w.strip()) for w in option_strings("allow", allow))
        self.action = option_choice("action", action, ("hold", "reject"))
        for word in self.words:
            problem = phrase_problem(word)
            if problem:
                raise FilterConfigError(f"option 'words': {problem}")
        compiled = []
        for pattern in self.patterns:
            try:
                compiled.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise FilterConfigError(
                    f"option 'patterns': {pattern!r} is not a valid regular expression ({exc})"
                ) from None
        self._words = WordMatcher(self.words)
        self._patterns: tuple[re.Pattern[str], ...] = tuple(compiled)
        if len(compiled) > 1 and not any(c.groups for c in compiled):
            # One regex for all patterns, unless their own groups (or flags) forbid joining them.
            try:
                self._patterns = (re.compile("|".join(f"(?:{p})" for p in self.patterns), re.IGNORECASE),)
            except re.error:
                pass
        self._verdict = Verdict(self.action, self.name, "contains a word on this room's blocklist")

    def check(self, ctx: MessageContext) -> Verdict | None:
        text = ctx.text
        folded = text if text.isascii() else fold(text)
        if self.allow:
            return self._verdict if self._found_outside_allow(text, folded) else None
        if self._words.search_folded(folded):
            return self._verdict
        for pattern in self._patterns:
            if pattern.search(text) is not None:
                return self._verdict
            if folded is not text and pattern.search(folded) is not None:
                return self._verdict
        return None

    def _found_outside_allow(self, text: str, folded: str) -> bool:
        # Words are matched in the folded text; patterns in it and in the text as written.
        found = itertools.chain(
            ((folded, span) for span in self._words.spans(folded)),
            *(((folded, m.span()) for m in p.finditer(folded)) for p in self._patterns),
            *(((text, m.span()) for m in p.finditer(text)) for p in self._patterns if folded is not text),
        )
        return any(not self._allowed(reading, start, end) for reading, (start, end) in found)

    def _allowed(self, text: str, start: int, end: int) -> bool:
        if not text[start:end].isalnum():  # spelt out ("a s s"): the whole spelt-out word counts
            before = _SPELT_BEFORE.search(text, max(0, start - 64), start)
            after = _SPELT_AFTER.match(text, end)
            word = text[before.start() if before else start : after.end() if after else end]
            if deleet("".join(ch for ch in word if ch.isalnum())) in self.allow:
                return True
        word_start, word_end = start, end
        while word_start > 0 and text[word_start - 1].isalnum():
            word_start -= 1
        while word_end < len(text) and text[word_end].isalnum():
            word_end += 1
        return deleet(text[word_start:word_end]) in self.allow or deleet(text[start:end]) in self.allow
