"""A whole session's evidence, checked and packed: what `vdispatch verify --session` and
`vdispatch export --session` print and write, and what the archive's sealed-session page
shows and downloads (through NodeEvidence). Blocking: async code runs these in a thread.

- `session_files`: the session's seal (if sealed) and its recordings' directories.
- `verify_session`: every recording (each one's own result, naming its first bad
  segment), and when sealed: the seal's signature and signer, that no recording of the
  session is missing from it, that each recording's manifest signature and chain head
  are the sealed ones, and the record's hash. The first problem found is the answer.
- `write_session_package`: one zip, checkable with sha256sum and openssl alone; for a
  reception, `petition.json` (the ticket, personal data included) when the caller says
  the exporter may see it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from catalog import Catalog, TicketRow, parse_iso
from recorder import manifest as mf
from recorder import verify_recording, verify_signature
from signaling import Hearing, Hearings, Ticket, session_city_streams

Progress = Callable[[int, int], None]
PETITION_JSON = "petition.json"

logger = logging.getLogger(__name__)


def _manifests(
    recordings_dir: Path, streams: Iterable[str] | None
) -> Iterator[tuple[Path, mf.Manifest]]:
    """The readable manifests of the recordings of `streams` (all when None): only their
    directories are read, a recording id starting with its stream id."""
    if not recordings_dir.is_dir():
        return
    prefixes = tuple(f"{s}-" for s in streams) if streams is not None else ("",)
    for directory in recordings_dir.iterdir():
        if not directory.name.startswith(prefixes) or not (directory / mf.MANIFEST).is_file():
            continue
        try:
            yield directory, mf.load(directory)
        except (OSError, ValueError, TypeError, KeyError):
            continue


def session_recordings(
    recordings_dir: Path, session: str, streams: Iterable[str] | None = None
) -> list[Path]:
    """The directories of the recordings bound to `session`, oldest first. `streams`:
    the session's streams, when known."""
    found = [
        (m.started_at, m.recording_id, d)
        for d, m in _manifests(recordings_dir, streams)
        if m.session == session
    ]
    return [d for _, _, d in sorted(found)]


def lead_ins(recordings_dir: Path, hearing: Hearing, streams: Iterable[str]) -> list[Path]:
    """Recordings of the session's streams not bound to it that cover part of its span:
    a stream already recorded when the session went live is cut over to a bound recording
    only at its next keyframe, so the seconds from the start to the cut are in the
    recording before. The seal lists (and holds) them too, or those seconds of an
    interrogation would be outside the sealed evidence. Oldest first."""
    if hearing.started_at is None:
        return []
    start = hearing.started_at.astimezone(UTC)
    end = (hearing.ended_at or datetime.now(UTC)).astimezone(UTC)
    wanted = set(streams)
    found: list[tuple[str, Path]] = []
    for directory, manifest in _manifests(recordings_dir, wanted):
        if manifest.stream not in wanted or manifest.session == hearing.id:
            continue
        if manifest.state == "recording":
            # Still being written: not cut over from at the start (its stream was never
            # bound to the session), so not a lead-in the seal could wait for.
            logger.warning(
                "session %s: recording %s overlaps it unbound and is still recording",
                hearing.id,
                manifest.recording_id,
            )
            continue
        began = parse_iso(manifest.started_at)
        ended = parse_iso(manifest.ended_at) if manifest.ended_at else None
        if began < end and (ended is None or ended > start):
            found.append((manifest.started_at, directory))
    return [d for _, d in sorted(found)]


def session_streams(hearing: Hearing) -> list[str]:
    """Every stream a session's recordings may be of: its own and the city side's."""
    return list(dict.fromkeys([*hearing.streams, *session_city_streams(hearing.id)]))


def _quiet(done: int, total: int) -> None:
    """No progress to show."""


@dataclass
class SessionFiles:
    session: str
    kind: str
    state: str
    seal: dict[str, Any] | None
    record: dict[str, Any] | None  # the record's newest version now {version, sha256}
    directories: list[Path]
    streams: list[str]  # the session's streams (its recordings are of these)


def session_files(hearings: Hearings, recordings_dir: Path, session_id: str) -> SessionFiles:
    """The session's seal (if sealed) and its recordings' directories: those the seal
    lists, or else those on disk bound to it. LookupError when there is no session."""
    hearing = hearings.get(session_id)
    if hearing is None:
        raise LookupError(f"no session {session_id!r}")
    seal = hearings.seal_of(session_id)
    latest = hearings.latest_record(session_id)
    streams = session_streams(hearing)
    if seal is not None:
        listed = json.loads(seal["record"])["recordings"]
        directories = [recordings_dir / r["id"] for r in listed]
    else:
        directories = session_recordings(recordings_dir, session_id, streams)
    return SessionFiles(session_id, hearing.kind, hearing.state, seal, latest, directories, streams)


# ------------------------------------------------------------------ verification


@dataclass(frozen=True)
class RecordingCheck:
    """One recording of the session: its own verification and, when sealed, that it is
    the sealed one. `segment`: the file of the first bad segment, when one is to blame."""

    id: str
    ok: bool
    segments: int
    sealed: bool  # listed in the seal
    problem: str | None = None
    segment: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ok": self.ok,
            "segments": self.segments,
            "sealed": self.sealed,
            "problem": self.problem,
            "segment": self.segment,
        }


@dataclass
class SessionCheck:
    session: str
    state: str
    sealed: bool
    seal_problem: str | None = None  # the seal record itself (None: good, or not sealed)
    recordings: list[RecordingCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # in the order found, the first decides

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def segments(self) -> int:
        return sum(r.segments for r in self.recordings)

    @property
    def failing(self) -> RecordingCheck | None:
        """The first recording at fault, if a recording is."""
        return next((r for r in self.recordings if not r.ok), None)

    def summary(self) -> str:
        """The one line `vdispatch verify --session` prints."""
        if not self.ok:
            return f"session {self.session}: FAILED: {self.problems[0]}"
        what = "sealed, seal signature OK" if self.sealed else f"{self.state}, not sealed"
        return (
            f"session {self.session}: OK: {what}; {len(self.recordings)} recordings, "
            f"{self.segments} segments verified"
        )

    def as_json(self) -> dict[str, Any]:
        failing = self.failing
        return {
            "session": self.session,
            "state": self.state,
            "ok": self.ok,
            "sealed": self.sealed,
            "seal_ok": None if not self.sealed else self.seal_problem is None,
            "seal_problem": self.seal_problem,
            "problem": self.problems[0] if self.problems else None,
            "failing": None
            if failing is None
            else {"recording": failing.id, "segment": failing.segment},
            "recordings": [r.as_json() for r in self.recordings],
            "segments": self.segments,
            "summary": self.summary(),
        }


def _seal_problem(
    files: SessionFiles, recordings_dir: Path, trusted: list[bytes] | None
) -> str | None:
    """What is wrong with the seal record as a whole, or None."""
    assert files.seal is not None
    seal = files.seal
    text = seal["record"].encode()
    public = seal["public_key"].encode()
    if not verify_signature(public, text, bytes.fromhex(seal["signature"])):
        return "the seal's signature does not match its record"
    if trusted is not None and public not in trusted:
        return "the seal was signed by a key other than this node's"
    record = json.loads(text)
    if record.get("session") != files.session:
        return f"the seal is of session {record.get('session')!r}"
    sealed = {r["id"] for r in record["recordings"]}
    on_disk = {d.name for d in session_recordings(recordings_dir, files.session, files.streams)}
    unsealed = sorted(on_disk - sealed)
    if unsealed:
        return f"recording {unsealed[0]} of the session is not in the seal"
    if record.get("record") != files.record:
        return f"the record is {files.record}, the seal says {record.get('record')}"
    return None


def _check_recording(
    directory: Path,
    entry: dict[str, Any] | None,
    trusted: list[bytes] | None,
    progress: Progress,
) -> RecordingCheck:
    result = verify_recording(directory, trusted, progress)
    sealed = entry is not None
    if not result.ok:
        first = result.issues[0]
        segment = first.params.get("file") if first.code.startswith(("segment", "chain")) else None
        problem = f"recording {directory.name}: {result.problems[0]}"
        return RecordingCheck(directory.name, False, result.segments, sealed, problem, segment)
    if entry is not None:
        manifest = mf.load(directory)
        why = None
        if manifest.last_chain.hex() != entry["chain"]:
            why = "its chain head is not the sealed one"
        elif (directory / mf.SIGNATURE).read_bytes().hex() != entry["signature"]:
            why = "its manifest is not the sealed one"
        if why is not None:
            problem = f"recording {directory.name}: {why}"
            return RecordingCheck(directory.name, False, result.segments, True, problem)
    return RecordingCheck(directory.name, True, result.segments, sealed)


def verify_session(
    files: SessionFiles,
    recordings_dir: Path,
    trusted: list[bytes] | None,
    progress: Progress = _quiet,
) -> SessionCheck:
    """Every recording (all of them, so each has its own answer) and the seal; the seal's
    problems come first, then the recordings' in order."""
    check = SessionCheck(files.session, files.state, files.seal is not None)
    sealed: dict[str, dict[str, Any]] = {}
    if files.seal is not None:
        check.seal_problem = _seal_problem(files, recordings_dir, trusted)
        if check.seal_problem is not None:
            check.problems.append(check.seal_problem)
        record = json.loads(files.seal["record"])
        sealed = {r["id"]: r for r in record.get("recordings", [])}
    for directory in files.directories:
        one = _check_recording(directory, sealed.get(directory.name), trusted, progress)
        check.recordings.append(one)
        if one.problem is not None:
            check.problems.append(one.problem)
    return check


# ------------------------------------------------------------------ the package


SESSION_README_ZH = """证据包：会话 {session}（{kind}，案号 {case_no}）
工作站 {station}，{start} 至 {end}（UTC），共 {count} 个录像，每个录像一个目录。
以下校验均无需 vdispatch（coreutils 与 OpenSSL 3）。

1. 所有文件与清单一致：

       sha256sum -c SHA256SUMS

2. 封存记录 seal.json 由节点的 Ed25519 密钥签名：

       openssl pkeyutl -verify -pubin -inkey node.pub -rawin -in seal.json -sigfile seal.sig

3. 每个录像的清单由同一节点签名（对每个录像目录 RID）：

       openssl pkeyutl -verify -pubin -inkey RID/node.pub -rawin \\
           -in RID/manifest.json -sigfile RID/manifest.sig

4. 封存记录中每个录像的最终链哈希与其清单一致：

       {chain_check}

seal.json 还列出参与人员、开始结束时间、每次中断（原因、起止时间）及笔录的 sha256。
"""

SESSION_README = """Evidence package: session {session} ({kind}, case {case_no})
Station {station}, {start} to {end} (UTC), {count} recordings, one folder each.
Nothing below needs vdispatch (coreutils and OpenSSL 3).

1. Every file is the one listed:

       sha256sum -c SHA256SUMS

2. The seal record seal.json was signed by the node's Ed25519 key:

       openssl pkeyutl -verify -pubin -inkey node.pub -rawin -in seal.json -sigfile seal.sig

3. Each recording's manifest was signed by the same node (for each recording folder RID):

       openssl pkeyutl -verify -pubin -inkey RID/node.pub -rawin \\
           -in RID/manifest.json -sigfile RID/manifest.sig

4. Each recording's final chain hash in the seal is its manifest's:

       {chain_check}

seal.json also lists the participants, start and end, every interruption (reason, start,
end) and the sha256 of the interrogation record.
"""

PETITION_README_ZH = """
petition.json：来访登记（姓名、联系方式、事由、县、工作站、时间、接访结果），属个人信息，
仅供审计人员；导出时从目录读取，列入 SHA256SUMS，但不在封存记录的签名范围内。
"""

PETITION_README = """
petition.json: the petition ticket (name, contact, subject, county, station, times, the
outcome form). Personal data, for auditors only; read from the catalog at export time,
listed in SHA256SUMS but not covered by the seal's signature.
"""

SEAL_CHAIN_CHECK = (
    "python3 -c \"import json;s=json.load(open('seal.json'));"
    "[print(r['id'],'OK' if ([{'chain':'0'*64}]+json.load(open(r['id']+'/manifest.json'))"
    "['segments'])[-1]['chain']==r['chain'] else 'MISMATCH') for r in s['recordings']]\""
)


def petition_of(engine: Engine, session_id: str) -> dict[str, Any] | None:
    """The reception ticket bound to the session (personal data included), or None."""
    with Session(engine) as session:
        row = session.scalar(select(TicketRow).where(TicketRow.hearing_id == session_id).limit(1))
        return None if row is None else Ticket.of(row).as_json(datetime.now(UTC))


def package_audit(catalog: Catalog, files: SessionFiles) -> list[dict[str, Any]]:
    """Every audit row about the session and its recordings (the export's own included,
    when it was written first)."""
    rows = catalog.audit_trail(f"session:{files.session}")
    for directory in files.directories:
        rows += catalog.audit_trail(directory.name)
    return rows


def write_session_package(
    files: SessionFiles,
    output: Path,
    audit: list[dict[str, Any]],
    petition: dict[str, Any] | None = None,
    progress: Progress = _quiet,
) -> Path:
    """One zip for a sealed session: each recording's files under its own folder, the
    seal (seal.json exactly as signed, seal.sig raw, node.pub), petition.json when given,
    SHA256SUMS, README and audit.jsonl. Written to `output`.part, then renamed; ValueError
    when the session is not sealed, OSError when it cannot be written."""
    if files.seal is None:
        raise ValueError(f"session {files.session} is not sealed")
    seal = files.seal
    record = json.loads(seal["record"])
    members: list[tuple[str, Path]] = []
    for directory in files.directories:
        manifest = mf.load(directory)
        names = [mf.MANIFEST, mf.SIGNATURE, mf.PUBLIC_KEY] + [s.file for s in manifest.segments]
        members += [(f"{directory.name}/{name}", directory / name) for name in names]
    extra = {
        "seal.json": seal["record"].encode(),
        "seal.sig": bytes.fromhex(seal["signature"]),
        "node.pub": seal["public_key"].encode(),
    }
    if petition is not None:
        text = json.dumps(petition, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        extra[PETITION_JSON] = text.encode()
    sums = [f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in extra.items()]
    values = {
        "session": files.session,
        "kind": record.get("kind"),
        "case_no": record.get("case_no"),
        "station": record.get("station"),
        "start": record.get("started_at"),
        "end": record.get("ended_at"),
        "count": len(files.directories),
        "chain_check": SEAL_CHAIN_CHECK,
    }
    zh, en = SESSION_README_ZH, SESSION_README
    if petition is not None:
        zh, en = zh + PETITION_README_ZH, en + PETITION_README
    readme = (zh + "\n" + "-" * 72 + "\n\n" + en).format(**values)
    tmp = output.with_name(output.name + ".part")
    total = sum(path.stat().st_size for _, path in members) or 1
    done = 0
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
            for name, data in extra.items():
                z.writestr(name, data)
            for name, path in members:
                z.write(path, name)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                sums.append(f"{digest}  {name}\n")
                done += path.stat().st_size
                progress(done, total)
            z.writestr("SHA256SUMS", "".join(sums))
            z.writestr("README.txt", readme)
            z.writestr(
                "audit.jsonl", "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in audit)
            )
        tmp.replace(output)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return output
