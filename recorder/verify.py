"""Checking a recording: every segment's bytes, the hash chain, the signature.

Names the first thing that is wrong, and why: a flipped byte, a deleted, inserted or
reordered segment, an edited manifest, a wrong signature.

Each problem is a `Problem`: a code of PROBLEMS (its English text) and the values it
needs, so a console can show it in its own language; `VerifyResult.problems` and
`summary()` are the English texts (CLI, API).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import chain
from . import manifest as mf
from .signing import verify_signature

_SEGMENT_FILE = re.compile(r"seg-(\d{6})\.(webm|mp4)$")

# The English text of each problem, by code; `{...}` are the problem's values.
PROBLEMS: dict[str, str] = {
    "manifest-unreadable": "manifest.json unreadable: {error}",
    "signature-missing": "signature or public key missing: {file}",
    "signature-invalid": "manifest signature invalid: manifest.json was edited or re-signed",
    "signer-unknown": "manifest signed by a key that is not this node's",
    "manifest-invalid": "manifest.json is not a valid manifest: {error}",
    "segment-reordered": (
        "segment {file}: listed as number {index} at position {n} "
        "(reordered or removed from the manifest)"
    ),
    "segment-missing": "segment {file} (#{n}) is missing: deleted",
    "segment-changed": (
        "segment {file} (#{n}) content changed: sha256 {actual}… != manifest {expected}…"
    ),
    "chain-broken": "hash chain broken at segment {file} (#{n}): manifest edited",
    "segment-inserted": "segment {file} is not in the manifest: inserted",
}
# How a good result names its signer, by VerifyResult.signer_trusted.
TRUST = {
    True: "signed by this node's key",
    False: "signed by a key this node does not know",
    None: "signature valid",
}


@dataclass(frozen=True)
class Problem:
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return PROBLEMS[self.code].format(**self.params)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


@dataclass
class VerifyResult:
    recording_id: str
    segments: int = 0
    bytes: int = 0
    duration: float = 0.0
    issues: list[Problem] = field(default_factory=list)
    signer_trusted: bool | None = None  # None: no trusted key to compare with

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def problems(self) -> list[str]:
        """The problems' English texts."""
        return [p.text for p in self.issues]

    def add(self, code: str, **params: Any) -> None:
        self.issues.append(Problem(code, params))

    def summary(self) -> str:
        if not self.ok:
            return f"{self.recording_id}: FAILED: {self.problems[0]}"
        return (
            f"{self.recording_id}: OK: {self.segments} segments, {self.duration:.1f} s, "
            f"{self.bytes} bytes, hash chain intact, {TRUST[self.signer_trusted]}"
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
        result.add("manifest-unreadable", error=exc.strerror or str(exc))
        return result
    try:
        sig = (directory / mf.SIGNATURE).read_bytes()
        pub = (directory / mf.PUBLIC_KEY).read_bytes()
    except OSError as exc:
        result.add("signature-missing", file=str(exc.filename))
        sig = pub = b""
    if sig and pub and not verify_signature(pub, data, sig):
        result.add("signature-invalid")
    if pub and trusted_public_keys is not None:
        result.signer_trusted = pub in trusted_public_keys
        if not result.signer_trusted:
            result.add("signer-unknown")
    try:
        manifest = mf.Manifest.from_json(data)
    except (ValueError, TypeError, KeyError) as exc:
        result.add("manifest-invalid", error=str(exc))
        return result
    result.recording_id = manifest.recording_id
    listed = {s.file for s in manifest.segments}
    prev = chain.GENESIS
    total = len(manifest.segments)
    for n, seg in enumerate(manifest.segments, start=1):
        if seg.index != n:
            result.add("segment-reordered", file=seg.file, index=seg.index, n=n)
        path = directory / seg.file
        if not path.is_file():
            if mf.EVICTED not in seg.flags:  # a spool's ring removed it, signed as such
                result.add("segment-missing", file=seg.file, n=n)
            prev = bytes.fromhex(seg.chain)
            continue
        digest = chain.sha256_file(path)
        if digest.hex() != seg.sha256:
            actual, expected = digest.hex()[:16], seg.sha256[:16]
            result.add("segment-changed", file=seg.file, n=n, actual=actual, expected=expected)
        link = chain.link(prev, bytes.fromhex(seg.sha256))
        if link.hex() != seg.chain:
            result.add("chain-broken", file=seg.file, n=n)
        prev = bytes.fromhex(seg.chain)
        result.segments += 1
        result.bytes += path.stat().st_size
        result.duration += seg.duration
        if progress:
            progress(n, total)
    for path in sorted(directory.iterdir()):
        m = _SEGMENT_FILE.match(path.name)
        if m and path.name not in listed:
            result.add("segment-inserted", file=path.name)
    return result
