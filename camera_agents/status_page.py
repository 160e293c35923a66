"""The station's local status: /status.json and a small page at /, on 127.0.0.1 only
(it names the cameras' addresses; it is for the operator at the station)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>站点摄像机 Station cameras</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.live{color:#17702b}.retrying,.connecting{color:#a15c00}.stopped{color:#888}.err{color:#b00020}
</style></head><body>
<h1>站点摄像机 <small>Station cameras</small> — <span id=station></span></h1>
<table><thead><tr><th>摄像机 Camera</th><th>角色 Role</th><th>流 Stream</th><th>源 Source</th>
<th>状态 State</th><th>发布 Publishing</th><th>码率 kbit/s</th><th>帧 Frames</th>
<th>丢弃 Drops</th><th>跳过 Skipped</th><th>重连 Reconnects</th><th>最近错误 Last error</th>
</tr></thead><tbody id=rows></tbody></table>
<p id=spool></p><p id=alarm class=err></p>
<script>
function cell(tr, text, cls) {
  const td = document.createElement('td'); td.textContent = text;
  if (cls) td.className = cls; tr.appendChild(td);
}
async function refresh() {
  try {
    const s = await (await fetch('status.json', {cache: 'no-store'})).json();
    document.getElementById('station').textContent = s.station;
    const rows = document.getElementById('rows'); rows.replaceChildren();
    for (const c of s.cameras) {
      const tr = document.createElement('tr');
      cell(tr, c.id); cell(tr, c.role); cell(tr, c.stream); cell(tr, c.source);
      cell(tr, c.state, c.state);
      cell(tr, c.publishing ? '是 yes → ' + c.gateway : '否 no', c.publishing ? 'live' : '');
      cell(tr, (c.bitrate / 1000).toFixed(0)); cell(tr, c.frames); cell(tr, c.drops);
      cell(tr, c.skipped); cell(tr, c.reconnects);
      cell(tr, [c.last_error, c.publish_error].filter(Boolean).join(' · '), 'err');
      rows.appendChild(tr);
    }
    const sp = s.spool, bf = s.backfill;
    document.getElementById('spool').textContent = sp ?
      `本地缓存 Spool: ${(sp.bytes / 1048576).toFixed(1)} MiB, ${sp.segments} 段 segments, ` +
      `${sp.not_uploaded} 未上传 not uploaded · 回传 Back-fill: ${bf.state}, ` +
      `${bf.uploaded} 段已上传 uploaded` + (bf.last_error ? ` (${bf.last_error})` : '') :
      '本地缓存未启用 No spool';
    document.getElementById('alarm').textContent =
      sp && sp.alarm ? '告警 Alarm: ' + sp.alarm : '';
  } catch (e) { /* the agent restarts: try again */ }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""


def status_app(status: Callable[[], dict[str, Any]]) -> web.Application:
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def status_json(_request: web.Request) -> web.Response:
        return web.json_response(status(), dumps=lambda o: json.dumps(o, ensure_ascii=False))

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/status.json", status_json)
    return app


async def serve_status(status: Callable[[], dict[str, Any]], port: int) -> web.AppRunner:
    """Listen on 127.0.0.1:`port` (0: any free port; see `bound_port`)."""
    runner = web.AppRunner(status_app(status), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("the status page is not listening")
