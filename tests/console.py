"""Console test helpers: accounts on a real node, and an HTTP client that logs in through
the real login form (cookie jar, CSRF token) like a browser does."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from signaling import STATIONS_KEY, USERS_KEY

PASSWORD = "correct horse battery staple"
_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


async def add_user(app: web.Application, name: str, role: str, password: str = PASSWORD) -> None:
    await asyncio.to_thread(app[USERS_KEY].add, name, role, password)


async def add_station(
    app: web.Application,
    station_id: str,
    streams: list[str],
    county: str = "甲县",
    name: str = "人民法院 第一法庭",
    kind: str = "courtroom",
) -> None:
    await asyncio.to_thread(app[STATIONS_KEY].add, station_id, county, name, kind, streams)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


@dataclass
class Console:
    """One browser-like client: its cookies, and the session's CSRF token once logged in."""

    url: str
    http: aiohttp.ClientSession
    csrf: str = ""

    async def request(self, method: str, path: str, *, csrf: bool = True, **kwargs: Any) -> Answer:
        headers = dict(kwargs.pop("headers", {}))
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        kwargs.setdefault("allow_redirects", False)
        async with self.http.request(method, self.url + path, headers=headers, **kwargs) as r:
            return Answer(r.status, dict(r.headers), await r.text())

    async def get(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Answer:
        return await self.request("POST", path, **kwargs)

    async def login(
        self,
        name: str,
        password: str = PASSWORD,
        next_path: str = "",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Through the form: GET /login (its token), POST it; the CSRF token after.
        `headers` go with the POST (X-Forwarded-For behind a trusted proxy)."""
        page = await self.get("/login")
        found = _FIELD.search(page.text)
        assert found, page.text
        form = {"csrf": found.group(1), "name": name, "password": password, "next": next_path}
        answer = await self.post("/login", data=form, csrf=False, headers=headers or {})
        if answer.status == 303:
            info = await self.get("/api/session")
            assert info.status == 200, info.text
            self.csrf = (await self._json("/api/session"))["csrf"]
        return answer

    async def _json(self, path: str) -> Any:
        async with self.http.get(self.url + path) as r:
            return await r.json()

    async def json(self, path: str) -> Any:
        return await self._json(path)

    def cookie(self, name: str) -> str | None:
        for morsel in self.http.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None


@asynccontextmanager
async def console(url: str) -> AsyncIterator[Console]:
    # unsafe=True: keep cookies for an IP-address host (the test server is 127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Console(url, http)


@asynccontextmanager
async def logged_in(url: str, name: str, password: str = PASSWORD) -> AsyncIterator[Console]:
    async with console(url) as c:
        answer = await c.login(name, password)
        assert answer.status == 303, (answer.status, answer.text)
        yield c
