"""The "?" overlay lists every key the inbox's script handles, and handles every key it lists: the script's
handlers are read from static/js/inbox.js, the overlay from the inbox page as served."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.factories import MembershipFactory, segment

pytestmark = pytest.mark.django_db

SCRIPTS = Path(__file__).resolve().parent.parent.parent / "static" / "js"
# The overlay's names for keys whose event.key is spelled otherwise.
KEY_NAMES = {"Esc": "Escape"}


def handled_keys() -> set[str]:
    """The keys of inbox.js's keydown handler: its ``keys`` table and the keys it compares by name."""
    source = (SCRIPTS / "inbox.js").read_text()
    table = re.search(r"^    const keys = \{\n(.*?)^    \};", source, re.S | re.M)
    assert table, "inbox.js has no `const keys = {...}` table in its keydown handler"
    entries = re.findall(r'^      (?:"([^"]+)"|(\w+)): ', table.group(1), re.M)
    compared = re.findall(r'event\.key === "([^"]+)"', source)
    return {quoted or bare for quoted, bare in entries} | set(compared)


class _OverlayKeys(HTMLParser):
    """The text of each <kbd> inside <dialog id="shortcuts">."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []
        self._in_dialog = False
        self._in_kbd = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "dialog" and ("id", "shortcuts") in attrs:
            self._in_dialog = True
        self._in_kbd = self._in_dialog and tag == "kbd"

    def handle_endtag(self, tag: str) -> None:
        if tag == "dialog":
            self._in_dialog = False
        if tag == "kbd":
            self._in_kbd = False

    def handle_data(self, data: str) -> None:
        if self._in_kbd:
            self.keys.append(KEY_NAMES.get(data.strip(), data.strip()))


def test_the_inbox_script_has_one_keyboard_handler_so_the_table_below_is_all_of_them() -> None:
    handlers = {
        path.name: path.read_text().count('addEventListener("keydown"') for path in SCRIPTS.glob("*.js")
    }

    assert {name: count for name, count in handlers.items() if count} == {"inbox.js": 1}


def test_every_key_the_inbox_handles_is_listed_in_the_overlay_and_nothing_else(client) -> None:
    agent = MembershipFactory(team=segment("customer-relations").team).user
    client.force_login(agent)
    parser = _OverlayKeys()

    parser.feed(client.get("/inbox/").content.decode())

    handled = handled_keys()
    assert {"j", "k", "o", "Enter", "a", "e", "r", "s", "m", "l", "x", "/", "?", "Escape"} <= handled
    assert sorted(handled - set(parser.keys)) == [], "handled by inbox.js but missing from the ? overlay"
    assert sorted(set(parser.keys) - handled) == [], "listed in the ? overlay but handled by nothing"
    assert len(parser.keys) == len(set(parser.keys)), "a key listed twice"
