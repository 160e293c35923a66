"""`vdispatch verify` catches every kind of tampering and names it; exports check out
with sha256sum and openssl alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from recorder import Manifest, continuity
from recorder.verify import VerifyResult, verify_recording

from .recordings import make_recording

VDISPATCH = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "vdispatch")


@pytest.fixture
async def recording(tmp_path: Path) -> Path:
    return await make_recording(tmp_path / "var")


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VDISPATCH_DATA_DIR": str(data_dir)}
    return subprocess.run([VDISPATCH, *args], capture_output=True, text=True, env=env, timeout=60)


def _segments(rec: Path) -> list[Path]:
    return sorted(rec.glob("seg-*.webm"))


async def test_an_untouched_recording_verifies(recording: Path, tmp_path: Path) -> None:
    result = cli(tmp_path / "var", "verify", recording.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout and "hash chain intact" in result.stdout
    assert "signed by this node's key" in result.stdout
    assert len(_segments(recording)) >= 4


async def test_a_flipped_byte_is_named(recording: Path, tmp_path: Path) -> None:
    seg = _segments(recording)[1]
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0x01
    seg.write_bytes(bytes(data))
    result = cli(tmp_path / "var", "verify", str(recording))
    assert result.returncode == 1
    assert f"segment {seg.name} (#2) content changed" in result.stdout


async def test_a_deleted_segment_is_named(recording: Path) -> None:
    seg = _segments(recording)[2]
    seg.unlink()
    result = verify_recording(recording)
    assert not result.ok and result.problems[0] == f"segment {seg.name} (#3) is missing: deleted"


async def test_an_inserted_segment_is_named(recording: Path) -> None:
    extra = recording / "seg-000099.webm"
    shutil.copy(_segments(recording)[0], extra)
    result = verify_recording(recording)
    assert (
        not result.ok and "seg-000099.webm is not in the manifest: inserted" in result.problems[0]
    )


async def test_reordered_segments_are_named(recording: Path) -> None:
    a, b = _segments(recording)[1:3]
    tmp = a.with_suffix(".swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    result = verify_recording(recording)
    assert not result.ok and result.problems[0].startswith(f"segment {a.name} (#2) content changed")


async def test_an_edited_manifest_is_caught_by_its_signature(recording: Path) -> None:
    path = recording / "manifest.json"
    raw = json.loads(path.read_bytes())
    raw["station"] = "somewhere else"
    path.write_text(json.dumps(raw, indent=1, sort_keys=True))
    result = verify_recording(recording)
    assert not result.ok and "signature invalid" in result.problems[0]


async def test_a_manifest_reordered_and_resigned_with_another_key_is_caught(
    recording: Path, tmp_path: Path
) -> None:
    from recorder.manifest import save
    from recorder.signing import NodeKey

    manifest = Manifest.from_json((recording / "manifest.json").read_bytes())
    manifest.segments[1], manifest.segments[2] = manifest.segments[2], manifest.segments[1]
    save(recording, manifest, NodeKey.load_or_create(tmp_path / "forger.pem"))
    result = cli(tmp_path / "var", "verify", recording.name)
    assert result.returncode == 1
    assert "reordered" in result.stdout or "chain broken" in result.stdout
    assert "not this node's" in result.stdout


async def test_a_wrong_signature_is_caught(recording: Path) -> None:
    sig = recording / "manifest.sig"
    sig.write_bytes(bytes(64))
    result = verify_recording(recording)
    assert not result.ok and "signature invalid" in result.problems[0]


async def test_the_export_checks_out_with_sha256sum_and_openssl_alone(
    recording: Path, tmp_path: Path
) -> None:
    out = tmp_path / "evidence.zip"
    result = cli(tmp_path / "var", "export", recording.name, "-o", str(out))
    assert result.returncode == 0, result.stderr
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as z:
        z.extractall(unpacked)
    names = set(os.listdir(unpacked))
    assert {
        "manifest.json",
        "manifest.sig",
        "node.pub",
        "SHA256SUMS",
        "README.txt",
        "audit.jsonl",
    } <= names
    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=unpacked, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    ossl = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "node.pub",
            "-rawin",
            "-in",
            "manifest.json",
            "-sigfile",
            "manifest.sig",
        ],
        cwd=unpacked,
        capture_output=True,
        text=True,
    )
    assert "Signature Verified Successfully" in ossl.stdout, ossl.stdout + ossl.stderr
    readme = (unpacked / "README.txt").read_text()
    assert readme.startswith("证据包：录像") and "Evidence package: recording" in readme  # noqa: RUF001
    one_liner = next(
        line.strip() for line in readme.splitlines() if line.strip().startswith("python3 -c")
    )
    chain = subprocess.run(["bash", "-c", one_liner], cwd=unpacked, capture_output=True, text=True)
    assert chain.returncode == 0 and "BROKEN" not in chain.stdout, chain.stdout + chain.stderr
    assert chain.stdout.count("OK") == len(_segments(recording))


def test_every_continuity_reason_reads_back_as_its_code_and_values() -> None:
    values = {
        "packets": 17,
        "error": "[Errno 28] No space left on device: 'x'",
        "seconds": 10,
        "session": "s20261202-a1b2c3",
        "index": 3,
        "frames": 12,
        "track": "audio",
        "node": "node-a",
        "recording": "cam-20261202T101500Z-a1b2c3",
        "time": "2026-12-02T10:15:42.120Z",
    }
    for code, text in continuity.REASONS.items():
        needed = {k: v for k, v in values.items() if "{" + k + "}" in text}
        written = continuity.reason(code, **needed)
        assert continuity.parse(written) == (code, {k: str(v) for k, v in needed.items()})
    assert continuity.parse("something an older node wrote") is None


def test_a_problem_is_a_code_with_values_and_reads_as_english() -> None:
    result = VerifyResult("r1")
    result.add("segment-missing", file="seg-000003.webm", n=3)
    assert not result.ok and result.issues[0].as_json() == {
        "code": "segment-missing",
        "params": {"file": "seg-000003.webm", "n": 3},
    }
    assert result.summary() == "r1: FAILED: segment seg-000003.webm (#3) is missing: deleted"
