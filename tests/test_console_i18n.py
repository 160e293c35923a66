"""The console's message catalogue covers every key its templates and scripts use, in
both languages, with the same placeholders."""

from __future__ import annotations

import re
import string
from pathlib import Path

from command_console.i18n import MESSAGES, Translator
from signaling import KINDS, ROLES

CONSOLE = Path(__file__).resolve().parent.parent / "command_console"


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for template in (CONSOLE / "templates").glob("*.html"):
        keys |= set(re.findall(r'\b(?:t|bi)\("([a-z_.]+[a-z_])"', template.read_text()))
    for script in (CONSOLE / "static").glob("*.js"):
        keys |= set(re.findall(r'text\["([a-z_.]+)"\]', script.read_text()))
    return keys


def test_every_key_used_exists_in_both_languages() -> None:
    used = _used_keys()
    assert len(used) > 30
    dynamic = {f"role.{r}" for r in ROLES} | {f"kind.{k}" for k in KINDS}
    missing = sorted((used | dynamic) - MESSAGES.keys())
    assert missing == []
    for key, (zh, en) in MESSAGES.items():
        assert zh.strip() and en.strip(), key
        fields = [{f for _, f, _, _ in string.Formatter().parse(text) if f} for text in (zh, en)]
        assert fields[0] == fields[1], key


def test_chinese_by_default_with_an_english_subtitle() -> None:
    zh, en = Translator("zh"), Translator("en")
    assert zh("login.title") == "登录" and en("login.title") == "Log in"
    assert (
        str(zh.bi("login.failed"))
        == '用户名或密码错误 <small lang="en">Wrong user name or password</small>'
    )
    assert str(en.bi("login.failed")) == "Wrong user name or password"
    assert zh("wall.live_count", n=3) == "3 路直播"
    assert Translator("fr").lang == "zh"
    assert "<" not in str(en.bi("login.title"))
