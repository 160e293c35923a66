"""Back-fill: the station's spooled segments uploaded to the centre (CONTRACT §5).

The rule: every closed spool segment is uploaded, oldest first, so the centre ends up
with a complete station-signed copy of every camera, whatever the link did (docs/
operations.md says why). Per recording: the station-signed manifest first (PUT, 200 when
unchanged), then `GET` which segments the centre holds (resumption after any break), then
each missing segment with its sha256, paced by a token bucket (`backfill_kbps`) so live
video keeps the uplink. A failure backs off (1 s doubling to 30 s, jittered) and tries the
next gateway; a segment is marked uploaded only on 201/200, and an idempotent retry of one
whose answer was lost gets 200.

Runs on the loop; file reads and hashing in threads.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from recorder import manifest as mf
from recorder import verify_signature

from .spool import Spool

logger = logging.getLogger(__name__)

CHUNK = 16 * 1024
IDLE = 1.0  # seconds between looks at the spool when nothing is pending
BACKOFF_MAX = 30.0
TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=60)


class BackfillError(Exception):
    pass


class TokenBucket:
    """`rate` bytes per second, at most `burst` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._at = burst, time.monotonic()

    async def take(self, n: int) -> None:
        while True:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= n:
                self._tokens -= n
                return
            await asyncio.sleep((n - self._tokens) / self.rate)


@dataclass
class BackfillStatus:
    state: str = "idle"  # idle | uploading | retrying
    uploaded: int = 0  # segments the centre took (or held already) since start
    bytes: int = 0
    gateway: str | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    last_upload_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Backfill:
    def __init__(self, spool: Spool, gateways: list[str], token: str, kbps: int) -> None:
        self.spool = spool
        self.gateways = gateways
        self.status = BackfillStatus()
        self._token = token
        rate = kbps * 1000 / 8
        self._bucket = TokenBucket(rate, max(CHUNK, rate / 4))
        self._attempt = 0

    @property
    def _base(self) -> str:
        return self.gateways[self._attempt % len(self.gateways)].rstrip("/")

    async def run(self) -> None:
        delay = 1.0
        async with aiohttp.ClientSession(
            timeout=TIMEOUT, headers={"Authorization": f"Bearer {self._token}"}
        ) as http:
            while True:
                try:
                    busy = await self._round(http)
                    delay = 1.0
                    if not busy:
                        self.status.state = "idle"
                        await asyncio.sleep(IDLE)
                except (aiohttp.ClientError, OSError, TimeoutError, BackfillError) as exc:
                    self.status.state = "retrying"
                    self.status.last_error = f"{self._base}: {exc or type(exc).__name__}"
                    self.status.last_error_at = time.time()
                    logger.warning("back-fill: %s; again in %.0f s", self.status.last_error, delay)
                    self._attempt += 1  # the next gateway
                    await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
                    delay = min(delay * 2, BACKOFF_MAX)

    async def flush(self, seconds: float) -> None:
        """At the station's stop, after the spool closed its last segments: upload what is
        pending for up to `seconds` (an upload cut short is finished at the next start;
        nothing is lost, but the node would show those segments missing meanwhile)."""

        async def rounds() -> None:
            async with aiohttp.ClientSession(
                timeout=TIMEOUT, headers={"Authorization": f"Bearer {self._token}"}
            ) as http:
                while await self._round(http):
                    pass

        try:
            await asyncio.wait_for(rounds(), seconds)
        except (aiohttp.ClientError, OSError, TimeoutError, BackfillError) as exc:
            logger.warning("back-fill at stop: %s (the rest at the next start)", exc or "timed out")

    async def _round(self, http: aiohttp.ClientSession) -> bool:
        """Upload what is pending; False when nothing was."""
        pending = await asyncio.to_thread(self.spool.pending)
        if not pending:
            return False
        self.status.state = "uploading"
        by_recording: dict[str, list[int]] = {}
        for rid, index in pending:
            by_recording.setdefault(rid, []).append(index)
        for rid, indexes in by_recording.items():
            await self._recording(http, rid, indexes)
        return True

    async def _recording(self, http: aiohttp.ClientSession, rid: str, indexes: list[int]) -> None:
        data, signature, manifest = await asyncio.to_thread(self._read_manifest, rid)
        url = f"{self._base}/api/ingest/{rid}"
        headers = {"X-Signature": base64.b64encode(signature).decode()}
        async with http.put(f"{url}/manifest", data=data, headers=headers) as resp:
            if resp.status not in (200, 201):
                raise BackfillError(f"manifest {rid}: {resp.status} {await resp.text()}")
        self.status.gateway = self._base
        async with http.get(url) as resp:
            if resp.status != 200:
                raise BackfillError(f"{rid}: {resp.status} {await resp.text()}")
            held = set((await resp.json())["segments"])
        listed = {s.index: s for s in manifest.segments}
        for index in indexes:
            entry = listed.get(index)
            if entry is None:
                continue  # closed after this manifest was read: the next round
            if index in held:
                self.spool.uploaded(rid, index)
                continue
            try:
                body = await asyncio.to_thread((self.spool.directory / rid / entry.file).read_bytes)
            except FileNotFoundError:
                continue  # removed by the ring meanwhile (its manifest says so)
            sha = await asyncio.to_thread(_sha256, body)
            if sha != entry.sha256:
                logger.error("back-fill: %s segment %d changed on disk: not uploaded", rid, index)
                continue
            async with http.put(
                f"{url}/segments/{index}",
                data=self._paced(body),
                headers={"X-Content-SHA256": sha, "Content-Type": "application/octet-stream"},
            ) as resp:
                text = await resp.text()
                if resp.status not in (200, 201):
                    raise BackfillError(f"{rid} segment {index}: {resp.status} {text.strip()}")
            self.spool.uploaded(rid, index)
            self.status.uploaded += 1
            self.status.bytes += len(body)
            self.status.last_upload_at = time.time()

    async def _paced(self, body: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(body), CHUNK):
            piece = body[i : i + CHUNK]
            await self._bucket.take(len(piece))
            yield piece

    def _read_manifest(self, rid: str) -> tuple[bytes, bytes, mf.Manifest]:
        """The manifest and its signature as a pair (the writer replaces both by rename:
        a read between the two renames is tried again)."""
        directory = self.spool.directory / rid
        for _ in range(20):
            data = (directory / mf.MANIFEST).read_bytes()
            signature = (directory / mf.SIGNATURE).read_bytes()
            if verify_signature(self.spool.key.public_pem, data, signature):
                return data, signature, mf.Manifest.from_json(data)
            time.sleep(0.01)
        raise BackfillError(f"{rid}: manifest and signature do not match")


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
