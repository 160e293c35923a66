"""Sending a file the node built for one download (an evidence package): in chunks read
in a thread, so a large zip never blocks the loop nor sits in memory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from .render import SECURITY_HEADERS

CHUNK = 256 * 1024


def _read_chunk(path: Path, offset: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(CHUNK)


async def send_zip(request: web.Request, path: Path, name: str) -> web.StreamResponse:
    """`path` as an attachment named `name`; the caller removes it afterwards."""
    size = (await asyncio.to_thread(path.stat)).st_size
    resp = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(size),
            **SECURITY_HEADERS,
        }
    )
    await resp.prepare(request)
    offset = 0
    while offset < size:
        chunk = await asyncio.to_thread(_read_chunk, path, offset)
        if not chunk:
            break
        await resp.write(chunk)
        offset += len(chunk)
    await resp.write_eof()
    return resp
