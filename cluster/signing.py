"""Node traffic signed with the cluster's shared SECRET: HMAC-SHA256 over canonical JSON.

Every bus message and directory entry a node writes to Redis is an envelope
`{"node", "ts", "nonce", "body"}` with its MAC. Whoever can write to Redis without the
SECRET cannot forge a direction or route viewers to a node of its own: a bad MAC is
rejected, and so (for bus messages) is a stale timestamp or a nonce seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The SECRET also signs tokens: node traffic uses a key of its own, derived from it.
KEY_CONTEXT = b"vdispatch-cluster-v1"
MAX_SKEW = 30.0  # seconds a message's timestamp may differ from this node's clock


class SignatureError(Exception):
    """A message that must be ignored: forged, stale or replayed (the reason says which)."""


@dataclass(frozen=True)
class Envelope:
    node_id: str  # the signing node
    ts: float  # its wall clock at signing
    nonce: str
    body: Any


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Signer:
    def __init__(
        self, secret: bytes, node_id: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = hmac.new(secret, KEY_CONTEXT, hashlib.sha256).digest()
        self.node_id = node_id
        self._clock = clock
        self._seen: dict[str, float] = {}  # nonce -> its timestamp, kept MAX_SKEW past it

    def _mac(self, envelope: dict[str, Any]) -> str:
        return hmac.new(self._key, _canonical(envelope), hashlib.sha256).hexdigest()

    def sign(self, body: Any) -> str:
        envelope = {
            "node": self.node_id,
            "ts": self._clock(),
            "nonce": secrets.token_hex(12),
            "body": body,
        }
        return json.dumps({"env": envelope, "mac": self._mac(envelope)}, separators=(",", ":"))

    def verify(self, raw: str | bytes, *, fresh: bool = True) -> Envelope:
        """The envelope of a genuine message. `fresh`: also refuse a stale timestamp and a
        nonce seen before (bus messages); directory entries are re-read on purpose and
        age out by their TTL instead."""
        try:
            outer = json.loads(raw)
            envelope = outer["env"]
            mac = outer["mac"]
            node_id, ts, nonce = envelope["node"], float(envelope["ts"]), envelope["nonce"]
        except (ValueError, TypeError, KeyError) as exc:
            raise SignatureError(f"malformed message: {exc!r}") from None
        if not isinstance(mac, str) or not hmac.compare_digest(mac, self._mac(envelope)):
            raise SignatureError(f"bad signature (claimed node {node_id!r})")
        if fresh:
            now = self._clock()
            if abs(now - ts) > MAX_SKEW:
                raise SignatureError(f"stale message from {node_id!r} ({now - ts:.1f} s old)")
            self._forget(now)
            if nonce in self._seen:
                raise SignatureError(f"replayed message from {node_id!r}")
            self._seen[nonce] = ts
        return Envelope(str(node_id), ts, str(nonce), envelope["body"])

    def _forget(self, now: float) -> None:
        if len(self._seen) < 1024:
            return
        horizon = now - 2 * MAX_SKEW
        self._seen = {n: ts for n, ts in self._seen.items() if ts >= horizon}
