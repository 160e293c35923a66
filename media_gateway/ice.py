"""The ICE servers a gateway peer uses: STUN/TURN URLs from the settings, and for TURN
time-limited credentials under coturn's TURN REST scheme (`use-auth-secret`).

With a shared secret (media.turn_secret = coturn's static-auth-secret) each peer gets its
own credentials when it is made: username `EXPIRY:NAME` (Unix time after which coturn
refuses it), password base64(HMAC-SHA1(secret, username)). No long-lived TURN password is
stored anywhere, and coturn's log names the peer. The station agent computes the same in
camera_agents/ice.py (it imports nothing of the gateway; the tests hold both to coturn).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from aiortc import RTCIceServer

from .settings import MediaSettings

TURN_SCHEMES = ("turn:", "turns:")


def turn_rest_credentials(
    secret: str, name: str, lifetime: float, now: float | None = None
) -> tuple[str, str]:
    """(username, password) valid for `lifetime` seconds from `now`."""
    expiry = int((time.time() if now is None else now) + lifetime)
    username = f"{expiry}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(settings: MediaSettings, name: str, now: float | None = None) -> list[RTCIceServer]:
    """One RTCIceServer per configured URL; TURN URLs carry credentials when a secret is set."""
    if settings.turn_secret is None:
        return [RTCIceServer(urls=url) for url in settings.ice_servers]
    username, password = turn_rest_credentials(
        settings.turn_secret.get_secret_value(), name, settings.turn_credential_lifetime, now
    )
    return [
        RTCIceServer(urls=url, username=username, credential=password)
        if url.startswith(TURN_SCHEMES)
        else RTCIceServer(urls=url)
        for url in settings.ice_servers
    ]
