"""Checking a recording: every segment's bytes, the hash chain, the signature.

Names the first thing that is wrong, and why: a flipped byte, a deleted, inserted or
reordered segment, an edited manifest, a wrong signature.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import chain
from . import manifest as mf
from .signing import verify_signature

_SEGMENT_FILE = re.compile(r"seg-(\d{6})\.(webm|mp4)$")


@dataclass
class VerifyResult:
    recording_id: str
    segments: int = 0
    bytes: int = 0
    duration: float = 0.0
    problems: list[str] = field(default_factory=list)
    signer_trusted: bool | None = None  # None: no trusted key to compare with

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if not self.ok:
            return f"{self.recording_id}: FAILED: {self.problems[0]}"
        trust = {
            True: "signed by this node's key",
            False: "signed by a key this node does not know",
            None: "signature valid",
        }[self.signer_trusted]
        return (
            f"{self.recording_id}: OK: {self.segments} segments, {self.duration:.1f} s, "
            f"{self.bytes} bytes, hash chain intact, {trust}"
        )


def verify_recording(
    directory: Path,
    trusted_public_keys: list[bytes] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyResult:
    """Blocking (reads every byte): run in a thread from async code."""
    result = VerifyResult(recording_id=directory.name)
    try:
        data = (directory / mf.MANIFEST).read_bytes()
    except OSError as exc:
        result.problems.append(f"manifest.json unreadable: {exc.strerror or exc}")
        return result
    try:
        sig = (directory / mf.SIGNATURE).read_bytes()
        pub = (directory / mf.PUBLIC_KEY).read_bytes()
    except OSError as exc:
        result.problems.append(f"signature or public key missing: {exc.filename}")
        sig = pub = b""
    if sig and pub and not verify_signature(pub, data, sig):
        result.problems.append("manifest signature invalid: manifest.json was edited or re-signed")
    if pub and trusted_public_keys is not None:
        result.signer_trusted = pub in trusted_public_keys
        if not result.signer_trusted:
            result.problems.append("manifest signed by a key that is not this node's")
    try:
        manifest = mf.Manifest.from_json(data)
    except (ValueError, TypeError, KeyError) as exc:
        result.problems.append(f"manifest.json is not a valid manifest: {exc}")
        return result
    result.recording_id = manifest.recording_id
    listed = {s.file for s in manifest.segments}
    prev = chain.GENESIS
    total = len(manifest.segments)
    for n, seg in enumerate(manifest.segments, start=1):
        if seg.index != n:
            result.problems.append(
                f"segment {seg.file}: listed as number {seg.index} at position {n} "
                "(reordered or removed from the manifest)"
            )
        path = directory / seg.file
        if not path.is_file():
            result.problems.append(f"segment {seg.file} (#{n}) is missing: deleted")
            prev = bytes.fromhex(seg.chain)
            continue
        digest = chain.sha256_file(path)
        if digest.hex() != seg.sha256:
            result.problems.append(
                f"segment {seg.file} (#{n}) content changed: sha256 {digest.hex()[:16]}… "
                f"!= manifest {seg.sha256[:16]}…"
            )
        link = chain.link(prev, bytes.fromhex(seg.sha256))
        if link.hex() != seg.chain:
            result.problems.append(
                f"hash chain broken at segment {seg.file} (#{n}): manifest edited"
            )
        prev = bytes.fromhex(seg.chain)
        result.segments += 1
        result.bytes += path.stat().st_size
        result.duration += seg.duration
        if progress:
            progress(n, total)
    for path in sorted(directory.iterdir()):
        m = _SEGMENT_FILE.match(path.name)
        if m and path.name not in listed:
            result.problems.append(f"segment {path.name} is not in the manifest: inserted")
    return result
