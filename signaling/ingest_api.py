"""Back-fill and enrollment for stations (CONTRACT.md §5), with the station's token.

PUT /api/ingest/stations/{station}/key        the station's Ed25519 public key (PEM):
                                              201 enrolled, 200 the same again, 409 another
                                              key is enrolled (replacing it is an admin's
                                              act: `vdispatch station replace-key`)
PUT /api/ingest/{recording_id}/manifest       the station-signed manifest.json, its
                                              signature in X-Signature (base64): 201 new,
                                              200 stored or unchanged, 422 bad signature,
                                              409 it changes segments held
PUT /api/ingest/{recording_id}/segments/{n}   one spooled segment, X-Content-SHA256: 201
                                              new, 200 identical repeat, 409 differs from
                                              what the manifest lists, 422 hash mismatch,
                                              403 another station's, 413 too large
GET /api/ingest/{recording_id}                which segments the centre holds (resumption)

Audited per recording (ingest.started, ingest.completed) and per enrollment.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import Forbidden, Refusal
from .ingest import IngestStore, parse_sha256
from .json_api import store_errors_as_text, text_answer
from .keys import ARCHIVE_KEY, INGEST_KEY, TOKENS_KEY
from .policy import TokenRole
from .tokens import Grant, valid_stream_id

logger = logging.getLogger(__name__)

MAX_MANIFEST = 16 * 1024 * 1024
MAX_KEY = 4096


def _grant(request: web.Request) -> Grant:
    grant = request.app[TOKENS_KEY].bearer(request.headers.get("Authorization"))
    if grant.role != TokenRole.STATION:
        raise Forbidden(f"a {grant.role} token cannot back-fill: a station token is needed")
    return grant


def _store(request: web.Request) -> IngestStore:
    store = request.app.get(INGEST_KEY)
    if store is None:
        raise Refusal(503, "the catalog is not open yet")
    return store


async def _body(request: web.Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes `limit`: never buffered beyond it."""
    if request.content_length is not None and request.content_length > limit:
        raise Refusal(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise Refusal(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@store_errors_as_text
async def enroll(request: web.Request) -> web.StreamResponse:
    grant = _grant(request)
    station = request.match_info["station"]
    if not valid_stream_id(station):
        raise Refusal(400, f"station id {station!r}: use [a-z0-9][a-z0-9_-]*")
    if not grant.streams or not all(s.startswith(f"{station}-") for s in grant.streams):
        raise Forbidden(f"this token is not station {station!r}'s (its streams: {station}-…)")
    pem = await _body(request, MAX_KEY)
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise Refusal(422, "the body must be an Ed25519 public key (PEM)")
    catalog = _store(request).catalog
    result = await asyncio.to_thread(catalog.enroll_station_key, station, pem, grant.actor)
    if result == "conflict":
        raise Refusal(
            409,
            f"station {station!r} has another key enrolled: replacing it is an admin's act "
            "(vdispatch station replace-key)",
        )
    status = 201 if result == "enrolled" else 200
    return web.json_response({"station": station, "result": result}, status=status)


@store_errors_as_text
async def put_manifest(request: web.Request) -> web.StreamResponse:
    grant = _grant(request)
    rid = request.match_info["recording_id"]
    try:
        signature = base64.b64decode(request.headers.get("X-Signature", ""), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != 64:
        raise Refusal(422, "X-Signature: the manifest's Ed25519 signature, base64")
    data = await _body(request, MAX_MANIFEST)
    store = _store(request)
    created, held = await asyncio.to_thread(store.put_manifest, grant, rid, data, signature)
    return web.json_response(held.as_json(), status=201 if created else 200)


@store_errors_as_text
async def put_segment(request: web.Request) -> web.StreamResponse:
    grant = _grant(request)
    rid = request.match_info["recording_id"]
    try:
        index = int(request.match_info["n"])
    except ValueError:
        raise Refusal(400, "segment number: an integer") from None
    store = _store(request)
    # Who may comes before the body is read: another station's upload is not taken in.
    await asyncio.to_thread(store.held, grant, rid)
    sha = parse_sha256(request.headers.get("X-Content-SHA256"))
    body = await _body(request, store.max_segment_bytes)
    created = await asyncio.to_thread(store.put_segment, grant, rid, index, sha, body)
    return text_answer(201 if created else 200, "stored" if created else "identical: held already")


@store_errors_as_text
async def get_held(request: web.Request) -> web.StreamResponse:
    grant = _grant(request)
    held = await asyncio.to_thread(_store(request).held, grant, request.match_info["recording_id"])
    return web.json_response(held.as_json())


def setup(app: web.Application) -> None:
    """Routes, and the store once the catalog is open (ARCHIVE_KEY set on startup)."""
    app.router.add_put("/api/ingest/stations/{station}/key", enroll)
    app.router.add_put("/api/ingest/{recording_id}/manifest", put_manifest)
    app.router.add_put(r"/api/ingest/{recording_id}/segments/{n}", put_segment)
    app.router.add_get("/api/ingest/{recording_id}", get_held)

    async def open_store(app: web.Application) -> None:
        archive = app.get(ARCHIVE_KEY)
        if archive is None:
            return  # no catalog: 503
        catalog = archive.catalog
        app[INGEST_KEY] = IngestStore(catalog, catalog.settings.ingest_max_segment_bytes)

    app.on_startup.append(open_store)
