"""Console logins on a real node over HTTP: sessions, logout, rate limiting, CSRF, and the
role rules on every page, API and WHEP."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from aiortc import RTCConfiguration, RTCPeerConnection
from sqlalchemy import select

from catalog import LoginSessionRow
from signaling import ARCHIVE_KEY, LOGIN_LIMITER_KEY, LOGIN_SESSIONS_KEY, USERS_KEY, LoginLimiter
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .console import PASSWORD, add_station, add_user, console, logged_in

ROLES = ("commander", "observer", "auditor", "admin")


@pytest.fixture
async def accounts(node: Node) -> Node:
    """One account per role, named after it."""
    for role in ROLES:
        await add_user(node.app, role, role)
    return node


async def _audit(node: Node, action: str) -> list[dict]:
    catalog = node.app[ARCHIVE_KEY].catalog
    return await asyncio.to_thread(lambda: catalog.audit_rows(action=action))


class Offers:
    """Real aiortc offers, closed when the test ends."""

    def __init__(self) -> None:
        self.pcs: list[RTCPeerConnection] = []

    async def make(self, direction: str) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs.append(pc)
        pc.addTransceiver("video", direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)


@pytest.fixture
async def offers() -> AsyncIterator[Offers]:
    o = Offers()
    try:
        yield o
    finally:
        for pc in o.pcs:
            await pc.close()


async def _go_live(node: Node, offers: Offers, stream: str) -> None:
    async with console(node.url) as c:
        answer = await c.post(
            f"/whip/{stream}",
            data=await offers.make("sendonly"),
            headers={
                "Content-Type": "application/sdp",
                "Authorization": f"Bearer {node.token(stream)}",
            },
        )
    assert answer.status == 201, answer.text


# ---------------------------------------------------------------- login and logout


async def test_login_opens_a_server_side_session_and_logout_ends_it(accounts: Node) -> None:
    node = accounts
    async with console(node.url) as c:
        answer = await c.get("/")
        assert answer.status == 302 and answer.location == "/login?next=/"
        answer = await c.login("commander")
        assert answer.status == 303 and answer.location == "/"
        cookie = answer.headers["Set-Cookie"]
        assert "vdispatch_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie and "Secure" not in cookie
        token = c.cookie("vdispatch_session")
        assert token is not None and len(token) >= 43  # 32 random bytes
        # Only the token's sha256 is stored.
        sessions = node.app[LOGIN_SESSIONS_KEY]

        def stored() -> list[str]:
            with sessions._read() as s:
                return list(s.scalars(select(LoginSessionRow.token_hash)))

        assert await asyncio.to_thread(stored) == [hashlib.sha256(token.encode()).hexdigest()]
        page = await c.get("/")
        assert page.status == 200 and 'name="csrf-token"' in page.text
        assert "commander" in page.text and 'id="logout"' in page.text
        assert page.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        # Logging out is a POST with the CSRF token.
        refused = await c.post("/logout", csrf=False)
        assert refused.status == 403 and "CSRF token missing or wrong" in refused.text
        answer = await c.post("/logout", data={"csrf": c.csrf}, csrf=False)
        assert answer.status == 303 and answer.location == "/login"
        assert await asyncio.to_thread(stored) == []
        assert (await c.get("/")).status == 302
    # The old cookie is worthless now.
    async with console(node.url) as other:
        other.http.cookie_jar.update_cookies({"vdispatch_session": token})
        assert (await other.get("/api/session")).status == 401
    [login] = await _audit(node, "login")
    assert login["actor"] == "user:commander" and login["detail"]["role"] == "commander"
    [logout] = await _audit(node, "logout")
    assert logout["actor"] == "user:commander"


async def test_the_session_cookie_is_secure_behind_a_tls_proxy(accounts: Node) -> None:
    async with console(accounts.url) as c:
        page = await c.get("/login")
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        form = {"csrf": token, "name": "admin", "password": PASSWORD}
        answer = await c.post(
            "/login", data=form, csrf=False, headers={"X-Forwarded-Proto": "https"}
        )
        assert answer.status == 303
        assert "Secure" in answer.headers["Set-Cookie"]


async def test_a_wrong_password_is_refused_and_the_sixth_failure_is_a_429(accounts: Node) -> None:
    node = accounts
    async with console(node.url) as c:
        for _ in range(5):
            answer = await c.login("commander", "not the password")
            assert answer.status == 401
            assert (
                "用户名或密码错误" in answer.text and "Wrong user name or password" in answer.text
            )
        # This user name from this address waits, even with the right password now.
        answer = await c.login("commander")
        assert answer.status == 429
        assert answer.headers["Retry-After"] == "30"
        assert "登录失败次数过多" in answer.text
        # Another account from the same address is not locked (20 per address).
        assert (await c.login("observer")).status == 303
    failures = await _audit(node, "login.failure")
    assert len(failures) == 5
    assert {f["target"] for f in failures} == {"user:commander"}
    assert {f["detail"]["reason"] for f in failures} == {"wrong password"}
    assert all(f["actor"] == "address:127.0.0.1" for f in failures)


@dataclass
class Proxied:
    """A node behind a trusted proxy (127.0.0.1): X-Forwarded-For names the client. Its
    login limiter runs on a clock the test moves, and alarms after 8 failures."""

    node: Node
    now: list[float]

    @property
    def limiter(self) -> LoginLimiter:
        return self.node.app[LOGIN_LIMITER_KEY]


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[Proxied]:
    settings = load_settings(data_dir=tmp_path / "var", trusted_proxies="127.0.0.1")
    app = build_app(settings)
    now = [1000.0]
    app[LOGIN_LIMITER_KEY] = LoginLimiter(attack=8, clock=lambda: now[0])
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        node = Node(url=str(server.make_url("")).rstrip("/"), app=app)
        for role in ROLES:
            await add_user(app, role, role)
        yield Proxied(node, now)
    finally:
        await server.close()


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_the_owner_logs_in_from_a_clean_address_while_a_guesser_waits_longer_and_longer(
    proxied: Proxied, caplog: pytest.LogCaptureFixture
) -> None:
    node, guesser = proxied.node, _from("10.1.1.1")
    async with console(node.url) as c:
        for _ in range(5):
            assert (await c.login("auditor", "not the password", headers=guesser)).status == 401
        refused = await c.login("auditor", headers=guesser)  # even the right password
        assert refused.status == 429 and refused.headers["Retry-After"] == "30"
    async with console(node.url) as owner:
        assert (await owner.login("auditor", headers=_from("10.2.2.2"))).status == 303
    retry_after = []
    async with console(node.url) as c:
        for _ in range(2):
            proxied.now[0] += proxied.limiter.retry_after("10.1.1.1", "auditor")
            assert (await c.login("auditor", "still wrong", headers=guesser)).status == 401
            answer = await c.login("auditor", "still wrong", headers=guesser)
            assert answer.status == 429
            retry_after.append(int(answer.headers["Retry-After"]))
        assert retry_after == [60, 120]
        # One more address joins in: the account is under attack (8 failures), once.
        with caplog.at_level(logging.WARNING, logger="signaling.login"):
            assert (await c.login("auditor", "x" * 10, headers=_from("10.5.5.5"))).status == 401
        assert "user:auditor is under attack: 8 failed logins from 2 addresses" in caplog.text
    [attack] = await _audit(node, "login.attack")
    assert attack["target"] == "user:auditor" and attack["actor"] == "system"
    assert attack["detail"] == {"failures": 8, "addresses": 2, "window": 300.0}
    assert len(await _audit(node, "login.failure")) == 8
    # The owner still gets in from a clean address.
    async with console(node.url) as owner:
        assert (await owner.login("auditor", headers=_from("10.2.2.3"))).status == 303


async def test_failures_behind_one_nat_address_do_not_lock_out_its_other_users(
    proxied: Proxied,
) -> None:
    node, nat = proxied.node, _from("10.3.3.3")
    for _ in range(20):  # 20 failures from the county office's NAT, on one account
        proxied.limiter.failed("10.3.3.3", "observer")
    async with console(node.url) as c:
        assert (await c.login("commander", headers=nat)).status == 303
    async with console(node.url) as c:
        # A wrong password from the spraying address: 429, and that pair waits.
        answer = await c.login("admin", "not the password", headers=nat)
        assert answer.status == 429 and answer.headers["Retry-After"] == "30"
        assert "登录失败次数过多" in answer.text
        assert (await c.login("admin", headers=nat)).status == 429
        assert (await c.login("admin", headers=_from("10.3.3.4"))).status == 303


async def test_unknown_and_disabled_users_cannot_log_in(accounts: Node) -> None:
    node = accounts
    await asyncio.to_thread(node.app[USERS_KEY].set_disabled, "observer", True)
    async with console(node.url) as c:
        assert (await c.login("nobody")).status == 401
        assert (await c.login("observer")).status == 401
    reasons = {f["detail"]["reason"] for f in await _audit(node, "login.failure")}
    assert reasons == {"unknown user", "account disabled"}


async def test_the_login_form_needs_its_own_token_and_next_stays_on_this_site(
    accounts: Node,
) -> None:
    async with console(accounts.url) as c:
        form = {"name": "admin", "password": PASSWORD}
        answer = await c.post("/login", data=form, csrf=False)
        assert answer.status == 403
        answer = await c.login("admin", next_path="//evil.example/x")
        assert answer.status == 303 and answer.location == "/admin/stations"
    async with console(accounts.url) as c:
        answer = await c.login("admin", next_path="/admin/users")
        assert answer.status == 303 and answer.location == "/admin/users"
        # Logged in, /login sends you on.
        answer = await c.get("/login")
        assert answer.status == 302 and answer.location == "/admin/stations"


async def test_the_language_switches_with_lang_and_is_remembered(accounts: Node) -> None:
    async with console(accounts.url) as c:
        zh = await c.get("/login")
        assert "登录" in zh.text and '<html lang="zh-CN">' in zh.text
        en = await c.get("/login?lang=en")
        assert '<html lang="en">' in en.text and "User name" in en.text and "用户名" not in en.text
        again = await c.get("/login")
        assert '<html lang="en">' in again.text


# ---------------------------------------------------------------- roles

PAGES = {
    "/": {"commander", "observer"},
    "/archive": {"auditor"},
    "/archive/sessions": {"auditor"},
    "/admin/stations": {"admin"},
    "/admin/users": {"admin"},
    "/nodes": {"commander", "admin"},  # a node alone lists itself
}


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_opens_its_pages_and_gets_403_on_the_others(
    accounts: Node, role: str
) -> None:
    async with logged_in(accounts.url, role) as c:
        for path, allowed in PAGES.items():
            answer = await c.get(path)
            if role in allowed:
                assert answer.status == 200, (role, path, answer.text[:200])
            else:
                assert answer.status == 403, (role, path, answer.status)
                assert "无权访问" in answer.text and 'id="forbidden"' in answer.text


API = [
    # path, roles answered 200 (the others get 403)
    ("/api/streams", {"commander", "observer"}),
    ("/api/recordings", {"auditor"}),
    ("/api/recordings/nope/segments/1", {"auditor"}),  # 404 for auditors
    ("/api/audit", {"auditor", "admin"}),
    ("/api/stations", set(ROLES)),
    ("/api/session", set(ROLES)),
    ("/api/nodes", {"commander", "admin"}),
]


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_only_its_apis(accounts: Node, role: str) -> None:
    async with logged_in(accounts.url, role) as c:
        for path, allowed in API:
            answer = await c.get(path)
            expected = (404 if "segments" in path else 200) if role in allowed else 403
            assert answer.status == expected, (role, path, answer.status, answer.text)
            assert answer.headers["Content-Type"].startswith(
                "application/json" if expected == 200 else "text/plain"
            )


# An interrogation's evidence copy, on a session the commander directs with the observer
# invited (not sealed yet: 409 for whoever may read; 403 for whoever may not; the MP4 is
# recordings' content, which admins never get).
COPY_ROUTES = [
    # method, path (under /api/sessions/{id}), {role: status}
    ("GET", "/copy", {"commander": 409, "observer": 409, "auditor": 409, "admin": 409}),
    ("GET", "/copy.mp4", {"commander": 409, "observer": 409, "auditor": 409, "admin": 403}),
    ("GET", "/copy.json", {"commander": 409, "observer": 409, "auditor": 409, "admin": 409}),
    ("GET", "/copy.sig", {"commander": 409, "observer": 409, "auditor": 409, "admin": 409}),
    ("POST", "/copy", {"commander": 403, "observer": 403, "auditor": 409, "admin": 409}),
]


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_reaches_an_evidence_copy_only_as_its_reader(
    accounts: Node, role: str
) -> None:
    node = accounts
    await add_station(node.app, "int-a", ["int-a-cam"], kind="interrogation_room")
    body = {"kind": "interrogation", "station": "int-a", "title": "t", "case_no": "c"}
    async with logged_in(node.url, "commander") as director:
        invited = {**body, "participants": [{"user": "observer", "part": "observer"}]}
        answer = await director.post("/api/sessions", json=invited)
        assert answer.status == 201, answer.text
        sid = answer.text.split('"id": "')[1].split('"')[0]
        answer = await director.post("/api/sessions", json=body)
        other = answer.text.split('"id": "')[1].split('"')[0]
    async with logged_in(node.url, role) as c:
        for method, path, expected in COPY_ROUTES:
            answer = await c.request(method, f"/api/sessions/{sid}{path}")
            assert answer.status == expected[role], (role, method, path, answer.text)
            assert answer.headers["Content-Type"].startswith("text/plain")
        # A session the observer is not in does not exist for them.
        answer = await c.get(f"/api/sessions/{other}/copy")
        assert answer.status == (404 if role == "observer" else 409), (role, answer.text)
        assert (await c.get("/api/sessions/nope/copy")).status == 404


async def test_without_a_login_apis_answer_401_and_pages_redirect(accounts: Node) -> None:
    async with console(accounts.url) as c:
        for path, _ in API:
            assert (await c.get(path)).status == 401, path
        for path in PAGES:
            answer = await c.get(path)
            assert answer.status == 302 and answer.location.startswith("/login?next="), path
        for method, path, _ in COPY_ROUTES:
            assert (await c.request(method, f"/api/sessions/x{path}")).status == 401, path
        assert (await c.get("/ws/events")).status == 401


@pytest.mark.parametrize(
    ("role", "status"), [("commander", 201), ("observer", 201), ("auditor", 403), ("admin", 403)]
)
async def test_whep_with_a_session_is_for_commanders_and_observers(
    accounts: Node, offers: Offers, role: str, status: int
) -> None:
    node = accounts
    await _go_live(node, offers, "cam1")
    sdp = {"Content-Type": "application/sdp"}
    async with logged_in(node.url, role) as c:
        answer = await c.post("/whep/cam1", data=await offers.make("recvonly"), headers=sdp)
        assert answer.status == status, answer.text
        if status == 403:
            assert f"the {role} role may not" in answer.text
            return
        # A viewing resource is deleted with the session too (and its CSRF token).
        location = answer.location
        refused = await c.request("DELETE", location, csrf=False)
        assert refused.status == 403 and "CSRF" in refused.text
        assert (await c.request("DELETE", location)).status == 200
        # No CSRF header, no view: another site's page could not start one either.
        refused = await c.post(
            "/whep/cam1", data=await offers.make("recvonly"), headers=sdp, csrf=False
        )
        assert refused.status == 403 and "CSRF token missing or wrong" in refused.text


async def test_the_focus_page_of_a_stream_on_air_needs_no_station(
    accounts: Node, offers: Offers
) -> None:
    node = accounts
    async with logged_in(node.url, "observer") as c:
        assert (await c.get("/streams/cam7")).status == 404
        await _go_live(node, offers, "cam7")
        assert (await c.get("/streams/cam7")).status == 200
    async with logged_in(node.url, "auditor") as c:
        answer = await c.get("/streams/cam7")
        assert answer.status == 403 and "审计员角色无权执行此操作" in answer.text
        assert "指挥员或观察员" in answer.text and "the auditor role" not in answer.text


async def test_a_bearer_token_request_needs_no_csrf_token_even_with_a_cookie(
    accounts: Node, offers: Offers
) -> None:
    node = accounts
    await _go_live(node, offers, "cam1")
    async with logged_in(node.url, "auditor") as c:  # an auditor's cookie, a viewer's token
        headers = {
            "Content-Type": "application/sdp",
            "Authorization": f"Bearer {node.token('cam1', 'viewer')}",
        }
        answer = await c.post(
            "/whep/cam1", data=await offers.make("recvonly"), headers=headers, csrf=False
        )
        assert answer.status == 201, answer.text


async def test_streams_are_listed_with_their_station(accounts: Node, offers: Offers) -> None:
    node = accounts
    await add_station(node.app, "county-a-court", ["cam1"], "甲县", "人民法院 第一法庭")
    await _go_live(node, offers, "cam1")
    await _go_live(node, offers, "cam2")
    async with logged_in(node.url, "observer") as c:
        streams = {s["id"]: s for s in (await c.json("/api/streams"))["streams"]}
    assert streams["cam1"]["station"] == "人民法院 第一法庭"
    assert (streams["cam1"]["county"], streams["cam1"]["kind"]) == ("甲县", "courtroom")
    assert streams["cam1"]["station_id"] == "county-a-court"
    assert streams["cam2"]["station"] == "cam2" and streams["cam2"]["station_id"] is None


# ---------------------------------------------------------------- CSRF and admin


async def test_station_api_writes_need_an_admin_and_the_csrf_token(accounts: Node) -> None:
    body = {
        "id": "county-b-interrogation",
        "county": "乙县",
        "name": "看守所 讯问室",
        "kind": "interrogation_room",
        "streams": ["cam-b"],
    }
    async with logged_in(accounts.url, "commander") as c:
        assert (await c.post("/api/stations", json=body)).status == 403
    async with logged_in(accounts.url, "admin") as c:
        answer = await c.post("/api/stations", json=body, csrf=False)
        assert answer.status == 403 and answer.text.strip() == "CSRF token missing or wrong"
        answer = await c.post("/api/stations", json=body, headers={"X-CSRF-Token": "x" * 43})
        assert answer.status == 403
        answer = await c.post("/api/stations", json=body)
        assert answer.status == 201, answer.text
        assert (await c.post("/api/stations", json=body)).status == 400  # exists already
        changed = {**body, "name": "看守所 第二讯问室", "streams": ["cam-b", "cam-b2"]}
        answer = await c.request("PUT", "/api/stations/county-b-interrogation", json=changed)
        assert answer.status == 200, answer.text
        [station] = (await c.json("/api/stations"))["stations"]
        assert station["name"] == "看守所 第二讯问室" and station["streams"] == ["cam-b", "cam-b2"]
        assert station["online"] is False and station["last_seen"] is None
        assert (await c.request("DELETE", "/api/stations/county-b-interrogation")).status == 200
        assert (await c.json("/api/stations"))["stations"] == []
    actions = [r["action"] for r in await _audit(accounts, "")]
    assert [a for a in actions if a.startswith("station.")] == [
        "station.add",
        "station.update",
        "station.delete",
    ]


async def test_admin_pages_manage_stations_and_users_with_csrf_forms(accounts: Node) -> None:
    node = accounts
    async with logged_in(node.url, "admin") as c:
        form = {
            "id": "county-c-reception",
            "county": "丙县",
            "name": "人民检察院 接访室",
            "kind": "reception_room",
            "streams": "cam-c, cam-c2",
        }
        refused = await c.post("/admin/stations", data=form, csrf=False)
        assert refused.status == 403 and "CSRF" in refused.text
        answer = await c.post("/admin/stations", data={**form, "csrf": c.csrf}, csrf=False)
        assert answer.status == 303, answer.text
        page = await c.get(answer.location)
        assert "人民检察院 接访室" in page.text and "接访室" in page.text and "cam-c2" in page.text
        bad = await c.post("/admin/stations", data={**form, "csrf": c.csrf, "id": "x2"}, csrf=False)
        assert bad.status == 400 and "已属于工作站 &#39;county-c-reception&#39;" in bad.text
        assert "belongs to station" not in bad.text
        edit = await c.get("/admin/stations/county-c-reception")
        assert edit.status == 200 and "cam-c, cam-c2" in edit.text
        changed = {**form, "name": "人民检察院 第二接访室", "csrf": c.csrf}
        answer = await c.post("/admin/stations/county-c-reception", data=changed, csrf=False)
        assert answer.status == 303
        assert "第二接访室" in (await c.get("/admin/stations")).text
        answer = await c.post(
            "/admin/stations/county-c-reception/delete", data={"csrf": c.csrf}, csrf=False
        )
        assert answer.status == 303
        assert "county-c-reception" not in (await c.get("/admin/stations")).text

        # Users: add one through the form, who logs in; disabling them logs them out.
        user = {"name": "li.wei", "display_name": "李伟", "role": "observer", "password": PASSWORD}
        answer = await c.post("/admin/users", data={**user, "csrf": c.csrf}, csrf=False)
        assert answer.status == 303, answer.text
        assert "李伟" in (await c.get("/admin/users")).text
        async with logged_in(node.url, "li.wei") as li:
            assert (await li.get("/")).status == 200
            answer = await c.post("/admin/users/li.wei/disable", data={"csrf": c.csrf}, csrf=False)
            assert answer.status == 303
            assert (await li.get("/")).status == 302  # logged out
        short = {**user, "name": "wang", "password": "short", "csrf": c.csrf}
        answer = await c.post("/admin/users", data=short, csrf=False)
        assert answer.status == 400 and "密码至少 10 个字符" in answer.text
        answer = await c.post("/admin/users?lang=en", data=short, csrf=False)
        assert answer.status == 400 and "password: at least 10 characters" in answer.text
    async with logged_in(node.url, "observer") as c:
        for path in ("/admin/stations", "/admin/users"):
            assert (await c.get(path)).status == 403
        answer = await c.post(
            "/admin/users", data={**user, "name": "x", "csrf": c.csrf}, csrf=False
        )
        assert answer.status == 403
