"""The hash chain over a recording's segments.

chain_n = sha256(chain_{n-1} || sha256(segment_n)), raw 32-byte digests, chain_0 = 32
zero bytes. Deleting, inserting or reordering a segment breaks every later link.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

GENESIS = bytes(32)
_BLOCK = 1024 * 1024


def link(prev_chain: bytes, segment_sha256: bytes) -> bytes:
    if len(prev_chain) != 32 or len(segment_sha256) != 32:
        raise ValueError("chain links are raw 32-byte SHA-256 digests")
    return hashlib.sha256(prev_chain + segment_sha256).digest()


def sha256_file(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.digest()
