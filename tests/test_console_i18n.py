"""The console's message catalogue covers every key its templates, scripts and handlers
use, in both languages, with the same placeholders; what signaling and the recorder say
in English (refusals, verification problems, continuity reasons, audit actions) has a
Chinese text; and the Chinese pages of a real node show none of that English."""

from __future__ import annotations

import asyncio
import re
import string
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import command_console  # noqa: F401  (merges every part of the catalogue)
from command_console.i18n import MESSAGES, Translator
from command_console.i18n_archive import ACTIONS
from recorder.continuity import REASONS
from recorder.verify import PROBLEMS
from signaling import ARCHIVE_KEY, KINDS, REFUSALS, ROLES

from .archive_site import Site, archive_site
from .console import logged_in

CONSOLE = Path(__file__).resolve().parent.parent / "command_console"


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for template in (CONSOLE / "templates").glob("*.html"):
        keys |= set(re.findall(r'\b(?:t|bi)\("([a-z_.]+[a-z_])"', template.read_text()))
    for script in (CONSOLE / "static").glob("*.js"):
        keys |= set(re.findall(r'text\["([a-z_.]+)"\]', script.read_text()))
    for module in CONSOLE.glob("*.py"):  # error pages: error_page(…, "key"), PageError(…)
        keys |= set(re.findall(r'(?:error_page|PageError)\([^"]*"([a-z_.]+)"', module.read_text()))
    return keys


def test_every_key_used_exists_in_both_languages() -> None:
    used = _used_keys()
    assert len(used) > 30
    dynamic = {f"role.{r}" for r in ROLES} | {f"kind.{k}" for k in KINDS}
    dynamic |= {f"refused.{k}" for k in REFUSALS} | {f"verify.{k}" for k in PROBLEMS}
    dynamic |= {f"reason.{k}" for k in REASONS} | {f"action.{k}" for k in ACTIONS}
    assert {"error.no_stream", "error.date", "error.stream_id"} <= used
    missing = sorted((used | dynamic) - MESSAGES.keys())
    assert missing == []
    assert_complete(MESSAGES)


def assert_complete(messages: dict[str, tuple[str, str]]) -> None:
    """Every key has a text in both languages, with the same placeholders."""
    one_language = sorted(k for k, (zh, en) in messages.items() if not zh.strip() or not en.strip())
    assert one_language == []
    for key, (zh, en) in messages.items():
        fields = [{f for _, f, _, _ in string.Formatter().parse(text) if f} for text in (zh, en)]
        assert fields[0] == fields[1], key


def test_a_key_missing_in_one_language_is_caught() -> None:
    with pytest.raises(AssertionError, match=r"refused\.account\.new"):
        assert_complete(MESSAGES | {"refused.account.new": ("", "a new refusal")})
    with pytest.raises(AssertionError):
        assert_complete({"x": ("{n} 个", "{count} of them")})


def test_what_signaling_and_the_recorder_say_has_a_chinese_text() -> None:
    for prefix, english in (
        ("refused", REFUSALS),
        ("verify", PROBLEMS),
        ("reason", REASONS),
    ):
        for key, text in english.items():
            zh, en = MESSAGES[f"{prefix}.{key}"]
            assert en == text and zh.strip() and zh != en, key
    zh = Translator("zh")
    assert zh("reason.first-keyframe") == "等待首个关键帧"
    assert zh("refused.account.password_short", min=10) == "密码至少 10 个字符"


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


# ---------------------------------------------------------------- pages of a real node

# What the Chinese pages used to show in English (the English subtitles of bi() aside).
ENGLISH = [
    "password: at least 10 characters",
    "role may not do this",
    "(needs",
    "hash chain intact",
    "signed by this node's key",
    "FAILED:",
    "publisher reconnected",
    "publisher disconnected",
    "waiting for the first keyframe",
    "not a date",
    "invalid stream id",
    "no such",
]
# Shown as text (not in attributes, where codes are data).
ENGLISH_TEXT = ["segment.view", "recording.view", "login.failure"]


def _without_subtitles(html: str) -> str:
    return re.sub(r'<small lang="en">.*?</small>', "", html, flags=re.S)


def _visible_text(html: str) -> str:
    html = re.sub(r"<script.*?</script>", "", _without_subtitles(html), flags=re.S)
    return re.sub(r"<[^>]*>", " ", html)


@pytest.fixture
async def site(tmp_path: Path, recording_template: Path, gap_template: Path) -> AsyncIterator[Site]:
    async with archive_site(tmp_path / "var", recording_template, gap_template) as s:
        yield s


async def test_the_chinese_pages_show_no_english_from_signaling_or_the_recorder(
    site: Site,
) -> None:
    catalog = site.app[ARCHIVE_KEY].catalog
    rid = site.ids["gap"]
    await asyncio.to_thread(catalog.audit, "user:auditor", "segment.view", f"{rid}/segments/1")
    await asyncio.to_thread(catalog.audit, "address:10.0.0.1", "login.failure", "user:x")
    pages: dict[str, tuple[int, str]] = {}
    english: dict[str, str] = {}
    async with logged_in(site.url, "auditor") as c:
        for path in (
            "/archive",
            f"/archive/{rid}",
            "/archive/timeline",
            "/audit",
            "/archive?from=yesterday",
            "/audit?to=31.12.2025",
            "/archive/no-such/export",
            "/streams/cam1",  # the auditor's 403
        ):
            answer = await c.get(path)
            pages[path] = (answer.status, answer.text)
        english[f"/archive/{rid}"] = (await c.get(f"/archive/{rid}?lang=en")).text
        english["/audit"] = (await c.get("/audit?lang=en")).text
    async with logged_in(site.url, "commander") as c:
        for path in ("/streams/Bad..Id", "/streams/nobody"):
            answer = await c.get(path)
            pages[path] = (answer.status, answer.text)
    async with logged_in(site.url, "admin") as c:
        short = {"name": "wang", "role": "observer", "password": "short", "csrf": c.csrf}
        answer = await c.post("/admin/users", data=short, csrf=False)
        pages["/admin/users (short password)"] = (answer.status, answer.text)
        answer = await c.post("/admin/users/admin/disable", data={"csrf": c.csrf}, csrf=False)
        pages["/admin/users (disable self)"] = (answer.status, answer.text)
        answer = await c.get("/admin/stations/nope")
        pages["/admin/stations/nope"] = (answer.status, answer.text)

    assert {p: s for p, (s, _) in pages.items()} == {
        "/archive": 200,
        f"/archive/{rid}": 200,
        "/archive/timeline": 200,
        "/audit": 200,
        "/archive?from=yesterday": 400,
        "/audit?to=31.12.2025": 400,
        "/archive/no-such/export": 404,
        "/streams/cam1": 403,
        "/streams/Bad..Id": 400,
        "/streams/nobody": 404,
        "/admin/users (short password)": 400,
        "/admin/users (disable self)": 400,
        "/admin/stations/nope": 404,
    }
    for path, (_, html) in pages.items():
        assert '<html lang="zh-CN">' in html, path
        shown = _without_subtitles(html)
        assert [e for e in ENGLISH if e in shown] == [], path
        assert [e for e in ENGLISH_TEXT if e in _visible_text(html)] == [], path
    # What they show instead, and the English pages still say it in English.
    assert "回放分段" in pages["/audit"][1] and "登录失败" in pages["/audit"][1]
    assert "segment played" in english["/audit"]
    assert "不是有效日期" in pages["/archive?from=yesterday"][1]
    assert "密码至少 10 个字符" in pages["/admin/users (short password)"][1]
    assert "不能停用自己的账户" in pages["/admin/users (disable self)"][1]
    detail_zh, detail_en = pages[f"/archive/{rid}"][1], english[f"/archive/{rid}"]
    assert "哈希链完整" in detail_zh and "hash chain intact" in detail_en
    reasons_en = re.findall(r'<tr data-kind="[^"]+">.*?<td>([^<]*)</td></tr>', detail_en)
    reasons_zh = re.findall(r'<tr data-kind="[^"]+">.*?<td>([^<]*)</td></tr>', detail_zh)
    assert reasons_en and all(r in REASONS.values() for r in reasons_en), reasons_en
    assert reasons_zh and not set(reasons_zh) & set(reasons_en), reasons_zh
