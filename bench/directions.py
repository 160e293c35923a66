"""Direction delivery and talk-back latency through a real `vdispatch serve` on loopback.

    .venv/bin/python bench/directions.py                  # 1000 directions, 20 s talk-back
    .venv/bin/python bench/directions.py --directions 200 --talkback-seconds 10

A director and the prosecutor in court log in through the real login form; the director
runs a direction session. Then:

- Directions: the director POSTs N directions one after another; each is timed from the
  POST's start to its arrival on the prosecutor's event socket. Every 10th is read by the
  prosecutor and the receipt timed to the director's socket. Baseline in the same run:
  an authenticated GET /api/session round trip (what any request costs on this node).
- Talk-back: the director's media token publishes `{session}-talkback` and the
  prosecutor's subscribes to it (bench/loadgen.py, with kernel receive timestamps);
  audio packets are timed publisher → viewer. Baseline in the same run: the same
  publisher → viewer pair connected directly, no gateway. Added latency = the difference.

Targets (issue 8): direction p95 < 200 ms on loopback, talk-back added latency p50 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from relay import HERE, LoadGen, free_port, stop, vdispatch_executable, wait_http

PASSWORD = "bench password 0123456789"
DIRECTION_P95_TARGET_MS = 200.0
TALKBACK_ADDED_P50_TARGET_MS = 20.0
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"n": len(ms), "p50": q[49], "p95": q[94], "p99": q[98], "max": ms[-1]}


def fmt(p: dict[str, float] | None) -> str:
    if not p:
        return "no samples"
    which = "p95" if "p95" in p else "p90"  # loadgen reports p90, this module p95
    return f"p50 {p['p50']:.1f} ms, {which} {p[which]:.1f} ms, max {p['max']:.1f} ms (n={p['n']})"


# ---------------------------------------------------------------- the node


def cli(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [vdispatch_executable(), *args], env=env, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"vdispatch {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def start_node(workdir: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    port = free_port()
    env = dict(
        os.environ,
        VDISPATCH_ICE_ADDRESSES="127.0.0.1",
        VDISPATCH_DATA_DIR=str(workdir / "data"),
        VDISPATCH_RECORD="true",
    )
    cli(env, "station", "add", "court-a", "--county", "甲县", "--name", "第一法庭",
        "--kind", "courtroom", "--stream", "court-a-wide")  # fmt: skip
    cli(env, "user", "add", "director", "--role", "commander", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    cli(env, "user", "add", "pros", "--role", "prosecutor", "--county", "甲县",
        stdin=f"{PASSWORD}\n{PASSWORD}\n")  # fmt: skip
    log = (workdir / "node.log").open("wb")
    cmd = [vdispatch_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    node = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz", node)
    return node, base, env


class Browser:
    """One logged-in console user: cookies, CSRF token, JSON calls."""

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base, self.http, self.csrf = base, http, ""

    async def login(self, name: str) -> None:
        async with self.http.get(f"{self.base}/login") as r:
            found = _CSRF_FIELD.search(await r.text())
        assert found, "no CSRF field on /login"
        form = {"csrf": found.group(1), "name": name, "password": PASSWORD, "next": ""}
        async with self.http.post(f"{self.base}/login", data=form, allow_redirects=False) as r:
            if r.status != 303:
                raise SystemExit(f"login {name}: {r.status} {await r.text()}")
        async with self.http.get(f"{self.base}/api/session") as r:
            self.csrf = (await r.json())["csrf"]

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        headers = {"X-CSRF-Token": self.csrf, "Content-Type": "application/json"}
        async with self.http.post(
            f"{self.base}{path}", data=json.dumps(body), headers=headers
        ) as r:
            if r.status not in (200, 201):
                raise SystemExit(f"POST {path}: {r.status} {await r.text()}")
            return await r.json()


async def next_event(ws: aiohttp.ClientWebSocketResponse, topic: str, key: int) -> float:
    """When the event `topic` about direction `key` arrived (others are skipped)."""
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise SystemExit(f"event socket: {msg}")
        data = msg.json()
        if data["topic"] == topic and data["data"]["direction"]["id"] == key:
            return time.perf_counter()


# ---------------------------------------------------------------- the measurements


async def directions(base: str, count: int) -> dict[str, Any]:
    # unsafe: keep cookies for an IP-address host; one jar per user.
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as h1,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as h2,
    ):
        director, pros = Browser(base, h1), Browser(base, h2)
        await director.login("director")
        await pros.login("pros")
        session = await director.post(
            "/api/sessions",
            {
                "kind": "direction",
                "station": "court-a",
                "title": "bench",
                "case_no": "B-1",
                "participants": [{"user": "pros", "part": "prosecutor"}],
            },
        )
        sid = session["id"]
        await director.post(f"/api/sessions/{sid}/start", {})
        baseline: list[float] = []
        delivery: list[float] = []
        receipts: list[float] = []
        async with (
            h2.ws_connect(f"{base}/ws/events") as pros_ws,
            h1.ws_connect(f"{base}/ws/events") as director_ws,
        ):
            for i in range(count):
                t0 = time.perf_counter()
                async with h1.get(f"{base}/api/session") as r:
                    await r.read()
                baseline.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                sent = await director.post(
                    f"/api/sessions/{sid}/directions", {"text": f"指令 {i}", "urgent": i % 7 == 0}
                )
                delivery.append(await next_event(pros_ws, "direction.sent", sent["id"]) - t0)
                if i % 10 == 0:
                    t0 = time.perf_counter()
                    await pros.post(f"/api/sessions/{sid}/directions/{sent['id']}/read", {})
                    receipts.append(
                        await next_event(director_ws, "direction.read", sent["id"]) - t0
                    )
        media = {
            "publish": await director.post(
                f"/api/sessions/{sid}/media", {"direction": "publish", "stream": "talkback"}
            ),
            "view": await pros.post(
                f"/api/sessions/{sid}/media", {"direction": "view", "stream": "talkback"}
            ),
        }
        return {
            "session": sid,
            "delivery": percentiles(delivery),
            "receipt": percentiles(receipts),
            "baseline": percentiles(baseline),
            "media": media,
        }


def talkback(base: str, media: dict[str, Any], seconds: float, workdir: Path) -> dict[str, Any]:
    gen = LoadGen(workdir / "loadgen.log")
    try:
        publish, view = media["publish"], media["view"]
        gen.call("publish", streams=[{"url": base + publish["url"], "token": publish["token"]}],
                 p2p=True)  # fmt: skip
        gen.call(
            "subscribe",
            viewers=[{"url": base + view["url"], "token": view["token"], "publisher": 0}],
        )
        time.sleep(2.0)  # warm-up: the jitter of connecting is not the steady state
        gen.call("mark")
        time.sleep(seconds)
        report = gen.call("report")
    finally:
        gen.close()
    via = report.get("latency_audio")
    direct = (report.get("p2p") or {}).get("latency_audio")
    return {"via_gateway": via, "direct": direct}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--directions", type=int, default=1000)
    p.add_argument("--talkback-seconds", type=float, default=20.0)
    p.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vdispatch-bench-") as tmp:
        workdir = Path(tmp)
        node, base, _ = start_node(workdir)
        try:
            print(f"vdispatch serve on {base} ({HERE.parent})", flush=True)
            d = asyncio.run(directions(base, args.directions))
            print(
                f"directions ({args.directions}), POST → prosecutor's socket: {fmt(d['delivery'])}"
            )
            print(f"  read receipts, POST → director's socket:   {fmt(d['receipt'])}")
            print(f"  baseline, GET /api/session round trip:     {fmt(d['baseline'])}")
            ratio = d["delivery"]["p50"] / max(d["baseline"]["p50"], 1e-6)
            print(f"  delivery p50 / request p50: {ratio:.1f}x")
            ok = d["delivery"]["p95"] < DIRECTION_P95_TARGET_MS
            print(f"  target p95 < {DIRECTION_P95_TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}")
            t = talkback(base, d["media"], args.talkback_seconds, workdir)
            print(
                f"talk-back audio, publisher → prosecutor via the gateway: {fmt(t['via_gateway'])}"
            )
            print(f"  baseline, the same pair connected directly:            {fmt(t['direct'])}")
            added = None
            if t["via_gateway"] and t["direct"]:
                added = t["via_gateway"]["p50"] - t["direct"]["p50"]
                verdict = "met" if added < TALKBACK_ADDED_P50_TARGET_MS else "MISSED"
                target = f"target < {TALKBACK_ADDED_P50_TARGET_MS:.0f} ms"
                print(f"  added latency p50: {added:.2f} ms ({target}: {verdict})")
            if args.json:
                d.pop("media")
                args.json.write_text(
                    json.dumps({"directions": d, "talkback": t, "added_p50_ms": added}, indent=2)
                )
        finally:
            stop(node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
