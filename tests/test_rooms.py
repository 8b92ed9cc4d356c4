"""rooms.yaml: parsing, validation with file and line, and the Room objects it builds."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from chatserver.errors import ConfigError
from chatserver.filters import CrisisFilter, MessageContext, PremoderateFilter, RateLimitFilter
from chatserver.rooms import Room, load_rooms, parse_rooms

SHIPPED_ROOMS = Path(__file__).resolve().parent.parent / "rooms.yaml"
CRISIS_TEXT = "I can't go on, I want to kill myself tonight"

# The conformance suite's good file, verbatim.
GOOD_ROOMS = """\
defaults:
  history: 50
  max_length: 2000
  premoderate: off
  filters:
    - rate_limit: {messages: 5, per_seconds: 10}
    - blocklist: {words: [grapefruit, durian], action: hold}
    - links: {action: hold, allow: [example.org]}
    - pii: {action: redact}
    - crisis: {action: hold, resources: crisis}
resources:
  crisis:
    - {name: "Emergency services", phone: "112 / 911 / 999"}
rooms:
  - id: anxiety
    title: Anxiety support
    topic: A calm room to talk about worry and panic.
    guidelines: |
      Be kind. No advice about medication doses.
    hosts: [alice, bob]
    resources: [crisis]
  - id: late-night-2
    title: Late-night check-in
    topic: For the small hours.
    hosts: [bob]
    premoderate: new_members
    filters:
      - pii: {action: redact}
"""

HEAD = """\
defaults:
  history: 50
resources:
  crisis:
    - {name: "Emergency services", phone: "112"}
rooms:
"""

CALM = "  - id: calm\n    title: Calm\n    topic: Calm.\n"


def problems_of(text: str, path: str = "rooms.yaml") -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_rooms(text, path)
    return err.value.problems


def lines_of(problems: list[str]) -> list[int]:
    return [int(m.group(1)) for p in problems if (m := re.match(r"rooms\.yaml:(\d+): \S", p))]


def line_with(text: str, needle: str, occurrence: int = 1) -> int:
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def ctx(text: str, *, role: str = "participant", sent: int = 10) -> MessageContext:
    return MessageContext("r", "s1", "ann", role, text, 0.0, sent)


def test_good_file_builds_rooms_in_order():
    """The conformance good file loads: rooms in file order, defaults merged, filters replaced."""
    config = parse_rooms(GOOD_ROOMS)
    assert list(config.rooms) == ["anxiety", "late-night-2"]
    anxiety, late = config.rooms.values()
    assert isinstance(anxiety, Room)
    assert (anxiety.title, anxiety.history, anxiety.max_length, anxiety.escalate_after) == (
        "Anxiety support",
        50,
        2000,
        120.0,
    )
    assert anxiety.hosts == ("alice", "bob") and anxiety.backup_hosts == ()
    assert anxiety.guidelines_required and not late.guidelines_required and late.guidelines == ""
    assert anxiety.chain.names == ["max_length", "rate_limit", "blocklist", "links", "pii", "crisis"]
    assert late.chain.names == ["max_length", "pii", "premoderate"]
    assert anxiety.premoderate == "off" and late.premoderate == "new_members"
    assert anxiety.resources == ({"name": "Emergency services", "phone": "112 / 911 / 999"},)


def test_bare_off_is_premoderate_off():
    """YAML reads `premoderate: off` as false; it means off, and no premoderate filter is added."""
    config = parse_rooms(HEAD + "  - id: calm\n    title: Calm\n    topic: Calm.\n    premoderate: off\n")
    room = config.rooms["calm"]
    assert room.premoderate == "off"
    assert not any(isinstance(f, PremoderateFilter) for f in room.chain)


def test_chain_has_max_length_first_and_premoderate_last():
    """The room prepends max_length from its setting and appends premoderate with the count."""
    text = HEAD.replace("  history: 50\n", "  history: 50\n  premoderate_count: 2\n") + (
        "  - id: calm\n    title: Calm\n    topic: Calm.\n    max_length: 10\n    premoderate: new_members\n"
        "    filters: [pii]\n"
    )
    chain = parse_rooms(text).rooms["calm"].chain
    assert chain.names == ["max_length", "pii", "premoderate"]
    assert chain.run(ctx("x" * 11)).reasons == ["max_length"]
    assert chain.run(ctx("hello", sent=1)).status == "held"
    assert chain.run(ctx("hello", sent=2)).status == "published"


def test_each_room_gets_its_own_filter_state():
    """Rooms inheriting the default chain get separate filter instances (rate limits are per room)."""
    text = HEAD.replace(
        "  history: 50\n", "  filters:\n    - rate_limit: {messages: 1, per_seconds: 60}\n"
    ) + ("  - id: one\n    title: One\n    topic: t\n  - id: two\n    title: Two\n    topic: t\n")
    rooms = parse_rooms(text).rooms
    one, two = (next(f for f in rooms[r].chain if isinstance(f, RateLimitFilter)) for r in ("one", "two"))
    assert one is not two
    assert rooms["one"].chain.run(ctx("a")).status == "published"
    assert rooms["one"].chain.run(ctx("b")).status == "rejected"
    assert rooms["two"].chain.run(ctx("c")).status == "published"


def test_empty_filters_list_replaces_the_defaults():
    """`filters: []` in a room means no filters besides max_length."""
    text = HEAD.replace("  history: 50\n", "  filters: [pii, crisis]\n") + (
        "  - id: open\n    title: Open\n    topic: t\n    filters: []\n"
    )
    assert parse_rooms(text).rooms["open"].chain.names == ["max_length"]


def test_resources_default_to_every_list_or_the_defaults_choice():
    """Without `resources`, a room shows defaults.resources, or else every list."""
    lists = 'resources:\n  a:\n    - {name: "A"}\n  b:\n    - {name: "B", url: "https://b.example"}\n'
    rooms = (
        "rooms:\n  - id: x\n    title: X\n    topic: t\n"
        "  - id: y\n    title: Y\n    topic: t\n    resources: [b]\n"
    )
    every = parse_rooms(lists + rooms).rooms
    assert [r["name"] for r in every["x"].resources] == ["A", "B"]
    assert [r["name"] for r in every["y"].resources] == ["B"]
    chosen = parse_rooms("defaults:\n  resources: [a]\n" + lists + rooms).rooms
    assert [r["name"] for r in chosen["x"].resources] == ["A"]
    assert set(chosen["x"].resource_lists) == {"a", "b"}


@pytest.mark.parametrize(
    ("name", "body", "needle", "words"),
    [
        (
            "duplicate id",
            "  - id: grief\n    title: Grief\n    topic: Loss.\n"
            "  - id: calm\n    title: Calm\n    topic: Calm.\n"
            "  - id: grief\n    title: Grief again\n    topic: Loss again.\n",
            ("- id: grief", 2),
            ("grief", "duplicate"),
        ),
        (
            "unknown filter",
            "  - id: anxiety\n    title: Anxiety\n    topic: Worry.\n    filters:\n"
            "      - pii: {action: redact}\n      - nosuchfilter: {level: 3}\n",
            ("nosuchfilter", 1),
            ("nosuchfilter",),
        ),
        (
            "bad id",
            CALM + "  - id: Bad_Room\n    title: Bad\n    topic: Bad id.\n",
            ("Bad_Room", 1),
            ("Bad_Room", "id"),
        ),
        (
            "unknown key",
            "  - id: calm\n    title: Calm\n    topic: Calm.\n    colour: blue\n",
            ("colour: blue", 1),
            ("colour", "calm", "expected one of"),
        ),
        (
            "bad filter option",
            "  - id: calm\n    title: Calm\n    topic: Calm.\n    filters:\n"
            "      - rate_limit: {messages: lots, per_seconds: 10}\n",
            ("rate_limit:", 1),
            ("messages", "lots", "rate_limit"),
        ),
        (
            "missing title",
            "  - id: calm\n    topic: Calm.\n",
            ("- id: calm", 1),
            ("title",),
        ),
        (
            "wrong type",
            "  - id: calm\n    title: Calm\n    topic: Calm.\n    history: many\n",
            ("history: many", 1),
            ("history", "many", "whole number"),
        ),
        (
            "unknown resources list",
            CALM + "    resources:\n      - crisis\n      - hotlines\n",
            ("- hotlines", 1),
            ("hotlines",),
        ),
        (
            "crisis names a missing list",
            CALM + "    filters:\n      - crisis: {resources: helplines}\n",
            ("- crisis:", 1),
            ("helplines", "crisis"),
        ),
        (
            "bad premoderate",
            "  - id: calm\n    title: Calm\n    topic: Calm.\n    premoderate: sometimes\n",
            ("premoderate:", 1),
            ("premoderate", "sometimes", "new_members"),
        ),
    ],
)
def test_each_problem_is_reported_with_its_line(name, body, needle, words):
    """Every kind of mistake is one `rooms.yaml:LINE: message` at the offending line, naming it."""
    text = HEAD + body
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert lines_of(problems) == [line_with(text, *needle)], problems
    assert all(w.lower() in problems[0].lower() for w in words), problems


def test_every_problem_is_reported_not_just_the_first():
    """Unknown key, unknown filter and duplicate id in one file: all three, each with its line."""
    text = HEAD + (
        "  - id: grief\n    title: Grief\n    topic: Loss.\n"
        "  - id: anxiety\n    title: Anxiety\n    topic: Worry.\n    colour: blue\n    filters:\n"
        "      - nosuchfilter: {}\n"
        "  - id: grief\n    title: Grief again\n    topic: Loss again.\n"
    )
    problems = problems_of(text)
    assert lines_of(problems) == [
        line_with(text, "colour: blue"),
        line_with(text, "nosuchfilter"),
        line_with(text, "- id: grief", 2),
    ], problems


def test_unknown_top_level_and_defaults_keys_are_errors():
    """Keys outside the schema are reported at their lines, at the top level and in defaults."""
    text = "defaults:\n  histroy: 5\nroom:\n  - id: a\nrooms:\n  - id: a\n    title: A\n    topic: t\n"
    problems = problems_of(text)
    assert lines_of(problems) == [2, 3]
    assert "'histroy'" in problems[0] and "'room'" in problems[1]


def test_defaults_filter_problems_are_reported_once():
    """A bad default filter is reported at its line once, not once per room inheriting it."""
    text = HEAD.replace("  history: 50\n", "  filters:\n    - nosuchfilter\n") + (
        "  - id: one\n    title: One\n    topic: t\n  - id: two\n    title: Two\n    topic: t\n"
    )
    problems = problems_of(text)
    assert lines_of(problems) == [3] and "nosuchfilter" in problems[0]


def test_duplicate_mapping_keys_are_errors():
    """A key given twice in one mapping is reported at the second one."""
    text = HEAD + "  - id: calm\n    title: Calm\n    topic: Calm.\n    title: Again\n"
    problems = problems_of(text)
    assert lines_of(problems) == [line_with(text, "title: Again")] and "duplicate key 'title'" in problems[0]


def test_yaml_syntax_error_has_its_line():
    """Broken YAML is one problem with the line where parsing failed."""
    problems = problems_of("rooms:\n  - id: a\n    title: [unclosed\n    topic: t\n")
    assert len(problems) == 1 and "YAML syntax error" in problems[0] and lines_of(problems) == [4]


def test_empty_file_and_missing_rooms():
    """An empty file and a file without rooms both explain what is expected."""
    assert "empty" in problems_of("")[0]
    assert "'rooms'" in problems_of("defaults:\n  history: 5\n")[0]


def test_unsafe_tags_are_refused():
    """Python object tags are not constructed: safe_load semantics."""
    problems = problems_of("rooms:\n  - id: a\n    title: !!python/object/apply:os.getcwd []\n    topic: t\n")
    assert lines_of(problems) == [3]


def test_custom_filter_in_rooms_yaml(tmp_path, monkeypatch):
    """`- filter: module:Class` with options in rooms.yaml builds the plugin into the chain."""
    (tmp_path / "roomsplugin_x.py").write_text(
        textwrap.dedent(
            """
            from chatserver.filters import Filter

            class NoCaps(Filter):
                name = "no_caps"

                def __init__(self, *, limit=3, **common):
                    super().__init__(**common)
                    self.limit = limit

                def check(self, ctx):
                    if sum(c.isupper() for c in ctx.text) > self.limit:
                        return self.hold("lots of capitals")
                    return None
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = HEAD + (
        "  - id: calm\n    title: Calm\n    topic: t\n    filters:\n"
        "      - filter: roomsplugin_x:NoCaps\n        limit: 1\n        on_error: reject\n"
    )
    chain = parse_rooms(text).rooms["calm"].chain
    assert chain.names == ["max_length", "no_caps"]
    assert chain.run(ctx("HI")).reasons == ["no_caps"]
    assert chain.filters[1].on_error == "reject"


def test_load_rooms_reports_a_missing_file_with_its_path(tmp_path):
    """A missing rooms file is one clear problem naming the path."""
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as err:
        load_rooms(path)
    assert err.value.problems == [f"{path}: no such file (expected a rooms.yaml; pass its path)"]


def test_load_rooms_prefixes_problems_with_the_path_as_given(tmp_path):
    """Problems start with the path exactly as passed, then the line."""
    path = tmp_path / "rooms.yaml"
    path.write_text(HEAD + "  - id: calm\n    title: Calm\n    topic: Calm.\n    colour: blue\n")
    with pytest.raises(ConfigError) as err:
        load_rooms(str(path))
    assert err.value.problems[0].startswith(f"{path}:10: unknown key 'colour'")


def test_shipped_rooms_yaml_loads_and_protects():
    """The shipped rooms.yaml is valid; its chain holds the crisis text and names a list that resolves."""
    config = load_rooms(SHIPPED_ROOMS)
    assert 4 <= len(config.rooms) <= 6
    for room in config.rooms.values():
        assert room.title and room.topic and room.hosts and room.resources
        assert any(isinstance(f, CrisisFilter) for f in room.chain)
        result = room.chain.run(ctx(CRISIS_TEXT))
        assert result.status == "held" and result.urgent
        assert room.resource_lists[result.resources]
        assert room.chain.run(ctx("Thanks, that really helps.")).status == "published"


def test_a_room_s_source_changes_exactly_when_what_built_it_changes():
    """Reloads report a room as changed only if its own entry, its filters or the lists it uses differ."""
    text = (Path(__file__).parent / "rooms.yaml").read_text()
    before = parse_rooms(text).rooms
    same = parse_rooms(text).rooms
    assert all(before[r].source == same[r].source for r in before)
    edited = parse_rooms(text.replace("words: [kill, grapefruit]", "words: [kill, lemon]")).rooms
    assert [r for r in before if before[r].source != edited[r].source] == ["safe"]
    relisted = parse_rooms(text.replace('phone: "116 123"', 'phone: "116 000"')).rooms
    assert relisted["safe"].source != before["safe"].source, "a resource list it sends changed"
    defaulted = parse_rooms(text.replace("  history: 50", "  history: 60")).rooms
    assert defaulted["lobby"].source != before["lobby"].source, "a default it inherits changed"


# ---- Resources by country (issue 13): countries, pairs, numbers and links checked ---------------------
ROOM_X = "rooms:\n  - id: x\n    title: X\n    topic: t\n"


def helplines_file(*items: str) -> str:
    """A rooms.yaml whose `crisis` list holds these items (each a block of `key: value` lines)."""
    body = "".join(
        "    - " + textwrap.indent(textwrap.dedent(item).strip(), "      ")[6:] + "\n" for item in items
    )
    return "resources:\n  crisis:\n" + body + ROOM_X


def test_items_keyed_by_country_reach_the_room_as_written():
    """countries (upper-cased), pair, sms_keyword and checked travel with the item; none = anywhere."""
    text = helplines_file(
        """
        name: Lifeline
        countries: [au]
        phone: "13 11 14"
        sms: "0477 13 11 14"
        pair: au-lifeline
        checked: 2026-12
        """,
        """
        name: Kids Helpline
        countries: [AU]
        phone: "1800 55 1800"
        pair: au-lifeline
        """,
        """
        name: Crisis Text Line
        countries: [US]
        sms: "741741"
        sms_keyword: HOME
        url: https://www.crisistextline.org
        """,
        """
        name: Find a helpline
        url: https://findahelpline.com
        """,
    )
    items = parse_rooms(text).rooms["x"].resources
    assert items[0] == {
        "name": "Lifeline",
        "countries": ["AU"],
        "phone": "13 11 14",
        "sms": "0477 13 11 14",
        "pair": "au-lifeline",
        "checked": "2026-12",
    }
    assert items[1]["pair"] == "au-lifeline" and items[2]["sms_keyword"] == "HOME"
    assert "countries" not in items[3]


@pytest.mark.parametrize(
    ("country", "number"),
    [
        ("US", "988"),
        ("CA", "988"),
        ("GB", "116 123"),
        ("IE", "116 123"),
        ("GB", "999"),
        ("AU", "000"),
        ("NZ", "1737"),
        ("FR", "3114"),
        ("ES", "024"),
        ("DE", "116 111"),
        ("DE", "0800 111 0 111 / 0800 111 0 222"),
        ("NL", "113 / 0800 0113"),
        ("BR", "188"),
        ("IN", "14416"),
        ("GB", "+44 800 1111"),
    ],
)
def test_short_codes_and_full_numbers_of_the_item_s_country_pass(country, number):
    """Emergency and crisis short numbers, national numbers and several numbers in one field are fine."""
    parse_rooms(helplines_file(f'name: Line\ncountries: [{country}]\nphone: "{number}"'))


def test_items_without_countries_keep_the_old_free_form_numbers():
    """Existing files stay valid: "112 / 911 / 999" and labelled numbers in an international item."""
    parse_rooms(helplines_file('name: Emergency\nphone: "112 (EU) / 911 (US, Canada) / 999 (UK)"'))
    parse_rooms(helplines_file('name: Line\nphone: "116 123"'))


def test_norway_is_a_country_not_false():
    """A bare NO in [NO] is read as Norway's code, not YAML's false."""
    items = (
        parse_rooms(helplines_file("name: Emergency\ncountries: [NO, SE]\nphone: '112'")).rooms["x"].resources
    )
    assert items[0]["countries"] == ["NO", "SE"]


@pytest.mark.parametrize(
    ("name", "item", "needle", "words"),
    [
        ("unknown country", "name: A\ncountries: [GB, XY]\nphone: '999'", "countries:", ("'XY'", "ISO 3166")),
        ("UK is not ISO", "name: A\ncountries: [UK]\nphone: '999'", "countries:", ("'UK'", "GB")),
        ("countries not a list", "name: A\ncountries: GB\nphone: '999'", "countries:", ("list", "[GB, IE]")),
        (
            "number of another country",
            "name: A\ncountries: [AU]\nphone: '116 123'",
            "phone:",
            ("AU", "116 123"),
        ),
        ("too short for GB", "name: A\ncountries: [GB]\nphone: '0800 123'", "phone:", ("GB", "0800 123")),
        ("valid in one, not both", "name: A\ncountries: [US, GB]\nphone: '988'", "phone:", ("in GB", "988")),
        (
            "not a number at all",
            "name: A\ncountries: [GB]\nphone: 'call us'",
            "phone:",
            ("'call us'", "digits"),
        ),
        (
            "second of two numbers",
            "name: A\ncountries: [DE]\nphone: '0800 111 0 111 / 0800 111'",
            "phone:",
            ("'0800 111'", "DE"),
        ),
        ("national number, no countries", "name: A\nphone: '0800 1111'", "phone:", ("countries", "+44")),
        (
            "sms of another country",
            "name: A\ncountries: [GB]\nsms: '741741'",
            "sms:",
            ("number to text", "GB"),
        ),
        ("sms not a number", "name: A\ncountries: [US]\nsms: 'text HOME'", "sms:", ("number to text",)),
        ("two sms numbers", "name: A\ncountries: [US]\nsms: '741741 / 988'", "sms:", ("one number",)),
        (
            "sms keyword without sms",
            "name: A\ncountries: [US]\nsms_keyword: HOME",
            "sms_keyword:",
            ("'sms'",),
        ),
        ("url without scheme", "name: A\nurl: www.samaritans.org", "url:", ("web address", "https://")),
        ("url of another scheme", "name: A\nurl: 'javascript:alert(1)'", "url:", ("web address",)),
        ("url without host", "name: A\nurl: 'https://'", "url:", ("web address",)),
        ("checked not a month", "name: A\nchecked: last week", "checked:", ("2026-12",)),
        ("bad pair key", "name: A\npair: 'Lifeline AU'", "pair:", ("pair key",)),
    ],
)
def test_each_helpline_problem_is_reported_at_its_line(name, item, needle, words):
    """A bad country, number, SMS number, link, date or pair is one `rooms.yaml:LINE: message`."""
    text = helplines_file(item)
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert lines_of(problems) == [line_with(text, needle)], problems
    assert all(w.lower() in problems[0].lower() for w in words), problems


def test_a_pair_needs_two_items_with_the_same_countries():
    """A pair of one, or a pair whose items list different countries, is reported at the item."""
    text = helplines_file(
        "name: Lifeline\ncountries: [AU]\nphone: '13 11 14'\npair: au",
        "name: Kids Helpline\ncountries: [AU, NZ]\nphone: '+61 1800 55 1800'\npair: au",
        "name: Alone\ncountries: [NZ]\nphone: '1737'\npair: nz",
    )
    problems = problems_of(text)
    assert lines_of(problems) == [line_with(text, "Kids Helpline"), line_with(text, "name: Alone")], problems
    assert "same countries" in problems[0] and "only this item" in problems[1]


def test_check_rooms_names_file_and_line_for_a_broken_helpline(tmp_path, capsys):
    """`chatserver check-rooms` exits 1 and prints PATH:LINE for a bad number."""
    from chatserver.cli import main

    path = tmp_path / "rooms.yaml"
    text = helplines_file("name: Lifeline\ncountries: [AU]\nphone: '13 11 1'")
    path.write_text(text)
    assert main(["check-rooms", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line_with(text, 'phone:')}: 'phone'" in err, err


def test_shipped_helplines_cover_ten_countries_with_pairs_and_a_fallback():
    """rooms.yaml ships examples for ten or more countries, marked checked, pairs complete, and fallbacks."""
    crisis = load_rooms(SHIPPED_ROOMS).rooms["welcome"].resource_lists["crisis"]
    countries = {c for item in crisis for c in item.get("countries", [])}
    assert len(countries) >= 10, countries
    assert {"US", "CA", "GB", "IE", "AU", "NZ", "DE", "FR", "ES", "NL"} <= countries
    assert all(re.fullmatch(r"\d{4}-\d\d", item.get("checked", "")) for item in crisis if "countries" in item)
    fallback = [item["name"] for item in crisis if "countries" not in item]
    assert any("Befrienders" in name for name in fallback) and any("Emergency" in name for name in fallback)
    au = [item["name"] for item in crisis if item.get("pair") == "au-lifeline"]
    assert len(au) == 2 and any("Kids Helpline" in name for name in au)


# ---- Hosted rooms (issue 15): opening hours, when_unhosted and snippets ----------------------------
HOSTED = """\
snippets:
  welcome: "Welcome. Take your time."
  closing: "Thank you for coming tonight."
  check_in: "How are you doing right now?"
rooms:
  - id: calm
    title: Calm
    topic: Calm.
"""


def hosted(*lines: str) -> str:
    """HOSTED with these lines added to the room 'calm' (each indented as a key of the room)."""
    return HOSTED + "".join(f"    {line}\n" for line in lines)


WEEKLY = ("hours:", "  timezone: Europe/London", "  weekly:")


@pytest.mark.parametrize(
    ("name", "text", "needle", "words"),
    [
        (
            "unknown time zone",
            hosted('hours: {timezone: Europe/Londn, weekly: {mon: "18:00-22:00"}}'),
            "Europe/Londn",
            ("'hours' in room 'calm'", "unknown time zone 'Europe/Londn'", "did you mean Europe/London"),
        ),
        (
            "hours out of range",
            hosted(*WEEKLY, '    mon: "25:00-26:00"'),
            "25:00",
            ("'25:00' is not a time of day",),
        ),
        ("a time, not a range", hosted(*WEEKLY, '    tue: "18:00"'), "18:00", ("not a range", "18:00-22:00")),
        ("not a time at all", hosted(*WEEKLY, "    wed: x"), "wed: x", ("'x' is not a range",)),
        (
            "overlap on one day",
            hosted(*WEEKLY, '    fri: "09:00-12:00, 11:00-13:00"'),
            "fri:",
            ("fri 11:00-13:00 overlaps fri 09:00-12:00",),
        ),
        (
            "overnight range overlapping the next morning",
            hosted(*WEEKLY, '    sun: "22:00-02:00"', '    mon: "01:00-05:00"'),
            "mon:",
            ("mon 01:00-05:00 overlaps sun 22:00-02:00", "past midnight"),
        ),
        ("unknown day", hosted(*WEEKLY, '    thur: "09:00-10:00"'), "thur", ("unknown day 'thur'", "'thu'")),
        ("no weekly", hosted("hours: {timezone: UTC}"), "hours:", ("needs 'weekly'",)),
        (
            "unknown when_unhosted",
            hosted("when_unhosted: sometimes"),
            "when_unhosted",
            ("'when_unhosted' in room 'calm'", "open, premoderate, read_only, closed", "sometimes"),
        ),
        (
            "negative grace",
            hosted("unhosted_grace: -5"),
            "unhosted_grace",
            ("'unhosted_grace'", "0 or more", "-5"),
        ),
        (
            "unknown snippet in a room's list",
            hosted("snippets: [welcome, redirect]"),
            "snippets: [welcome",
            ("'redirect'", "not a top-level snippet", "welcome, closing, check_in"),
        ),
        (
            "unknown opening",
            hosted("opening: greeting"),
            "opening:",
            ("'opening' in room 'calm'", "'greeting'", "not one of the room's snippets"),
        ),
        (
            "closing the room does not offer",
            hosted("snippets: [welcome]", "closing: closing"),
            "closing: closing",
            ("'closing' in room 'calm'", "not one of the room's snippets (welcome)"),
        ),
        (
            "empty top-level snippet",
            HOSTED.replace('"How are you doing right now?"', '""'),
            "check_in:",
            ("snippet 'check_in'", "non-empty text"),
        ),
        (
            "empty snippet of the room's own",
            hosted("snippets:", '  welcome: "   "'),
            'welcome: "   "',
            ("snippet 'welcome' in 'snippets' in room 'calm'", "non-empty text"),
        ),
        (
            "snippet longer than the room allows",
            hosted("max_length: 28"),  # "Thank you for coming tonight." is 29
            "- id: calm",  # no list of its own: reported at the room
            ("snippet 'closing'", "29 characters", "max_length of 28"),
        ),
    ],
)
def test_each_hosted_room_problem_is_reported_at_its_line(name, text, needle, words):
    """check-rooms reports each bad hours, mode, grace or snippet as one `rooms.yaml:LINE: message`."""
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert lines_of(problems) == [line_with(text, needle)], problems
    assert all(w in problems[0] for w in words), problems


def test_every_hours_problem_is_reported_not_just_the_first():
    """A bad zone, a bad range, an unknown day and an overlap in one timetable: four problems, four lines."""
    text = hosted(
        "hours:",
        "  timezone: Mars/Olympus",
        "  weekly:",
        '    mon: "25:00-26:00"',
        '    thursday: "09:00-10:00"',
        '    fri: ["09:00-12:00", "11:00-13:00"]',
    )
    problems = problems_of(text)
    assert lines_of(problems) == [
        line_with(text, "Mars"),
        line_with(text, "25:00"),
        line_with(text, "thursday"),
        line_with(text, "fri:"),
    ], problems


def test_the_issue_s_hours_shape_is_accepted_as_written():
    """`hours: {timezone: Europe/London, weekly: {mon: ..., tue: ...}}` and `when_unhosted: closed`."""
    from chatserver.hours import Hours

    room = parse_rooms(
        hosted(
            'hours: {timezone: Europe/London, weekly: {mon: "18:00-22:00", tue: "18:00-22:00"}}',
            "when_unhosted: closed",
        )
    ).rooms["calm"]
    assert room.hours == Hours("Europe/London", (((1080, 1320),), ((1080, 1320),), (), (), (), (), ()))
    assert room.when_unhosted == "closed" and room.unhosted_grace == 60.0


def test_bare_times_and_lists_are_read_as_written():
    """Unquoted 18:00-22:00 (YAML would read a bare 18:00 as 1080), lists and overnight ranges all parse."""
    text = hosted(
        *WEEKLY, "    mon: 18:00-22:00", '    sat: ["10:00-12:00", "22:00-02:00"]', "    sun: 9:00-9:30"
    )
    room = parse_rooms(text).rooms["calm"]
    assert room.hours is not None
    assert room.hours.weekly[0] == ((1080, 1320),)
    assert room.hours.weekly[5] == ((600, 720), (1320, 1560))
    assert room.hours.weekly[6] == ((540, 570),)


def test_rooms_without_the_keys_keep_today_s_behaviour():
    """No hours, `open` when unhosted, 60 s grace, every top-level snippet offered, no scripts."""
    room = parse_rooms(HOSTED).rooms["calm"]
    assert (room.hours, room.when_unhosted, room.unhosted_grace) == (None, "open", 60.0)
    assert dict(room.snippets) == {
        "welcome": "Welcome. Take your time.",
        "closing": "Thank you for coming tonight.",
        "check_in": "How are you doing right now?",
    }
    assert (room.opening, room.closing) == (None, None)
    plain = parse_rooms(HEAD + CALM).rooms["calm"]
    assert dict(plain.snippets) == {} and plain.when_unhosted == "open" and plain.hours is None


def test_defaults_carry_the_hosted_keys_and_a_room_overrides_them():
    """Defaults set hours, mode, grace, snippets and scripts; a room may replace each, or clear a script."""
    text = (
        HOSTED.split("rooms:\n")[0]
        + "defaults:\n"
        + '  hours: {timezone: America/New_York, weekly: {sat: "20:00-23:00"}}\n'
        + "  when_unhosted: premoderate\n  unhosted_grace: 0\n"
        + "  snippets: [welcome, closing]\n  opening: welcome\n  closing: closing\n"
        + "rooms:\n"
        + "  - id: plain\n    title: Plain\n    topic: t\n"
        + "  - id: own\n    title: Own\n    topic: t\n"
        + "    when_unhosted: read_only\n    unhosted_grace: 90.5\n"
        + '    snippets: {hello: "Hi there.", bye: "Goodnight, take care."}\n'
        + "    opening: hello\n    closing:\n"
    )
    rooms = parse_rooms(text).rooms
    plain, own = rooms["plain"], rooms["own"]
    assert plain.hours is not None and plain.hours.timezone == "America/New_York"
    assert (plain.when_unhosted, plain.unhosted_grace) == ("premoderate", 0.0)
    assert list(plain.snippets) == ["welcome", "closing"]
    assert (plain.opening, plain.closing) == ("welcome", "closing")
    assert own.hours == plain.hours
    assert (own.when_unhosted, own.unhosted_grace) == ("read_only", 90.5)
    assert dict(own.snippets) == {"hello": "Hi there.", "bye": "Goodnight, take care."}
    assert (own.opening, own.closing) == ("hello", None)


def test_a_default_script_the_room_does_not_offer_is_named_with_the_room():
    """`opening:` in defaults is checked against each room's snippets, at the defaults line."""
    text = HOSTED.replace("rooms:\n", "defaults:\n  opening: welcome\nrooms:\n") + "    snippets: [closing]\n"
    problems = problems_of(text)
    assert lines_of(problems) == [line_with(text, "opening: welcome")], problems
    assert "'opening' in defaults (for room 'calm')" in problems[0]


def test_source_changes_with_hours_modes_and_snippet_texts():
    """A reload sees new hours, a new mode or grace, and a changed top-level snippet text a room offers."""
    text = hosted('hours: {timezone: Europe/London, weekly: {mon: "18:00-22:00"}}', "snippets: [welcome]")
    text += "  - id: other\n    title: Other\n    topic: t\n    snippets: [closing]\n"
    before = parse_rooms(text).rooms
    assert parse_rooms(text).rooms["calm"].source == before["calm"].source
    for old, new in (
        ("18:00-22:00", "18:00-23:00"),
        ("Europe/London", "Europe/Dublin"),
        ('"Welcome. Take your time."', '"Welcome, friend."'),
    ):
        after = parse_rooms(text.replace(old, new)).rooms
        assert after["calm"].source != before["calm"].source, (old, new)
        assert after["other"].source == before["other"].source, (old, new)
    with_mode = parse_rooms(text + "    when_unhosted: closed\n").rooms  # added to 'other'
    assert with_mode["other"].source != before["other"].source


def test_shipped_rooms_yaml_shows_a_careful_hosted_setup(capsys):
    """The shipped file passes check-rooms; late-night keeps hours and premoderates; one room closes."""
    from chatserver.cli import main
    from chatserver.rooms import WHEN_UNHOSTED

    assert main(["check-rooms", str(SHIPPED_ROOMS)]) == 0, capsys.readouterr().err
    rooms = load_rooms(SHIPPED_ROOMS).rooms
    late = rooms["late-night"]
    assert late.hours is not None and late.hours.timezone == "Europe/London"
    assert late.when_unhosted == "premoderate"
    assert any(end > 1440 for day in late.hours.weekly for _, end in day), "late-night runs past midnight"
    assert any(room.when_unhosted == "closed" and room.hours is not None for room in rooms.values())
    offered = {name for room in rooms.values() for name in room.snippets}
    assert {"welcome", "closing", "redirect", "check_in"} <= offered
    for room in rooms.values():
        assert room.unhosted_grace >= 0 and room.when_unhosted in WHEN_UNHOSTED
        for script in (room.opening, room.closing):
            assert script is None or room.snippets[script]
        assert all(0 < len(text) <= room.max_length for text in room.snippets.values())
    check_in = rooms["low-mood"].snippets["check_in"]
    assert "Get help now" in check_in and "emergency" in check_in


def test_check_rooms_names_file_and_line_for_a_bad_time_zone(tmp_path, capsys):
    """`chatserver check-rooms` exits 1 and prints PATH:LINE for an unknown time zone."""
    from chatserver.cli import main

    path = tmp_path / "rooms.yaml"
    text = hosted(*WEEKLY, '    mon: "18:00-22:00"').replace("Europe/London", "Europe/Lundon")
    path.write_text(text)
    assert main(["check-rooms", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line_with(text, 'Lundon')}: 'hours' in room 'calm': unknown time zone" in err, err
