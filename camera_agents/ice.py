"""The ICE servers an agent's peer uses: STUN/TURN URLs, and for TURN time-limited
credentials under coturn's TURN REST scheme (`use-auth-secret`), made per connection.

The same computation as the gateway's media_gateway/ice.py, written twice on purpose: a
station agent imports nothing of the gateway (pyproject's import contracts); the tests
hold both to coturn's algorithm and to a real coturn.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from aiortc import RTCIceServer

TURN_SCHEMES = ("turn:", "turns:")
# How long one connection's TURN credentials stay valid (coturn checks them at every
# refresh of the allocation, so this bounds a publication's length through TURN).
CREDENTIAL_LIFETIME = 24 * 3600.0


def turn_rest_credentials(
    secret: str, name: str, lifetime: float = CREDENTIAL_LIFETIME, now: float | None = None
) -> tuple[str, str]:
    """(username `EXPIRY:NAME`, password base64(HMAC-SHA1(secret, username)))."""
    expiry = int((time.time() if now is None else now) + lifetime)
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(urls: list[str], turn_secret: str | None, name: str) -> list[RTCIceServer]:
    """One RTCIceServer per URL; TURN URLs carry credentials when a secret is given."""
    if turn_secret is None:
        return [RTCIceServer(urls=url) for url in urls]
    username, password = turn_rest_credentials(turn_secret, name)
    return [
        RTCIceServer(urls=url, username=username, credential=password)
        if url.startswith(TURN_SCHEMES)
        else RTCIceServer(urls=url)
        for url in urls
    ]
