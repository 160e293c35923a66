"""A sealed session's seal in the archive (auditors), on /archive/sessions/{id}:

- the panel (`_session_seal.html`): sealed at, by, the seal's signing key fingerprint
  (SHA-256 of its DER public key, as `openssl pkey -pubin -in node.pub -outform DER |
  sha256sum` prints it), and every recording the seal lists with its chain head;
- POST /archive/sessions/{id}/verify: the whole session checked on the node, as
  `vdispatch verify --session` (off the loop, audited `session.verify`), answered as JSON
  per recording and for the seal;
- GET /archive/sessions/{id}/export: the session's evidence package (as `vdispatch
  export --session`), built in a thread into a temporary file, streamed, removed after;
  audited `session.export`. A reception's package holds its petition ticket
  (petition.json) for those who may read tickets (auditors); the audit row says it did,
  never what it says.

The work is the node's (signaling.SessionEvidence, EVIDENCE_KEY): this module asks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from catalog import parse_iso
from signaling import (
    EVIDENCE_KEY,
    Hearings,
    Permission,
    SignalingError,
    allows,
    current_user,
    require,
)

from . import i18n, i18n_seal
from .downloads import send_zip

assert i18n_seal.MESSAGES  # merged at import
logger = logging.getLogger(__name__)
NO_EVIDENCE = "recording is off on this node: a session is checked where it is recorded"


def key_fingerprint(public_pem: str) -> str:
    """SHA-256 of the key's DER SubjectPublicKeyInfo, hex in groups of four."""
    key = serialization.load_pem_public_key(public_pem.encode())
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(der).hexdigest()
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def panel(hearings: Hearings, session_id: str) -> dict[str, Any] | None:
    """What the seal panel shows; None when the session is not sealed. Blocking."""
    seal = hearings.seal_of(session_id)
    if seal is None:
        return None
    record = json.loads(seal["record"])
    return {
        "sealed_at": parse_iso(seal["sealed_at"]),
        "sealed_by": seal["sealed_by"],
        "fingerprint": key_fingerprint(seal["public_key"]),
        "signature": seal["signature"],
        "recordings": record.get("recordings", []),
        "interruptions": len(record.get("interruptions", [])),
        "record": record.get("record"),
    }


def context(hearings: Hearings, session_id: str, translate: i18n.Translator) -> dict[str, Any]:
    """What _session_seal.html needs: the panel and the script's messages. Blocking."""
    return {
        "seal_panel": panel(hearings, session_id),
        "seal_messages": i18n_seal.script_messages(translate),
    }


def _text(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")


@require(Permission.ARCHIVE_READ, api=True)
async def verify(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    assert user is not None
    evidence = request.app.get(EVIDENCE_KEY)
    if evidence is None:
        return _text(503, NO_EVIDENCE)
    try:
        result = await evidence.verify_session(request.match_info["session_id"], user.actor)
    except SignalingError as exc:
        return _text(exc.status, exc.reason)
    return web.json_response(result)


@require(Permission.RECORDING_EXPORT)
async def export(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    assert user is not None
    session_id = request.match_info["session_id"]
    evidence = request.app.get(EVIDENCE_KEY)
    if evidence is None:
        return _text(503, NO_EVIDENCE)
    petition = allows(user.role, Permission.RECEPTION_RECORDS)
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="vdispatch-session-"))
    try:
        name = f"session-{session_id}.zip"
        path = workdir / name
        try:
            await evidence.write_package(session_id, user.actor, path, petition)
        except SignalingError as exc:
            return _text(exc.status, exc.reason)
        except Exception:
            logger.exception("export of session %s failed", session_id)
            return _text(500, "the evidence package could not be written (see the node's log)")
        return await send_zip(request, path, name)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/archive/sessions/{session_id}/verify", verify)
    app.router.add_get("/archive/sessions/{session_id}/export", export)
