"""`vdispatch station enroll` (at the station) and `vdispatch station replace-key` (at
the node, an admin's act): the station's Ed25519 key, which signs its local spool."""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

from camera_agents import STATION_KEY_FILE
from recorder import NodeKey

from .settings import Settings

TIMEOUT = 20.0


def enroll(station: str, gateway: str, token_file: Path, key_dir: Path) -> int:
    """Make the key pair (the private key, 0600, stays here) and register the public key."""
    try:
        token = token_file.read_text().strip()
        key = NodeKey.load_or_create(key_dir / STATION_KEY_FILE)
    except (OSError, ValueError) as exc:
        print(f"vdispatch station enroll: {exc}", file=sys.stderr)
        return 2
    url = f"{gateway.rstrip('/')}/api/ingest/stations/{station}/key"
    request = urllib.request.Request(
        url,
        data=key.public_pem,
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-pem-file"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        reason = exc.read().decode(errors="replace").strip()
        print(f"vdispatch station enroll: {exc.code}: {reason}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"vdispatch station enroll: {gateway}: {exc}", file=sys.stderr)
        return 1
    what = "enrolled" if status == 201 else "already enrolled with this key"
    print(f"station {station}: {what}; key {key_dir / STATION_KEY_FILE}")
    return 0


def replace_key(settings: Settings, station: str, public_key: Path) -> int:
    """An admin replaces a station's enrolled key (a new station box); audited."""
    from .catalog_cli import CatalogUnavailable, cli_actor, open_catalog

    try:
        pem = public_key.read_bytes()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if not isinstance(serialization.load_pem_public_key(pem), Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        with open_catalog(settings, "station replace-key") as catalog:
            result = catalog.enroll_station_key(station, pem, cli_actor(), replace=True)
    except (OSError, ValueError, CatalogUnavailable) as exc:
        print(f"vdispatch station replace-key: {exc}", file=sys.stderr)
        return 1
    print(f"station {station}: key {'unchanged' if result == 'unchanged' else 'replaced'}")
    return 0
