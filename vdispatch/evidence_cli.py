"""`vdispatch verify` and `vdispatch export`: blocking commands with a progress bar."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder import NodeKey, export_recording, verify_recording
from recorder import manifest as mf

from .settings import Settings


def resolve_recording(settings: Settings, target: str) -> Path:
    path = Path(target)
    if path.is_dir():
        return path
    candidate = settings.recorder.recordings_dir / target
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(f"no recording {target!r} (neither a directory nor a recording id)")


def trusted_keys(settings: Settings) -> list[bytes] | None:
    key_path = settings.recorder.key_path
    if not key_path.exists():
        return None
    return [NodeKey.load_or_create(key_path).public_pem]


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on a terminal; silence otherwise."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def verify(settings: Settings, target: str) -> int:
    try:
        directory = resolve_recording(settings, target)
    except FileNotFoundError as exc:
        print(f"vdispatch verify: {exc}", file=sys.stderr)
        return 2
    with progress_bar("verifying") as update:
        result = verify_recording(directory, trusted_keys(settings), update)
    print(result.summary())
    for problem in result.problems[1:]:
        print(f"  also: {problem}")
    return 0 if result.ok else 1


def export(settings: Settings, target: str, out: str) -> int:
    """Logged before it is written: an export the audit log cannot record does not happen.
    The package's audit.jsonl holds every audit row about the recording, this one included."""
    from .catalog_cli import CatalogUnavailable, cli_actor, open_catalog

    try:
        directory = resolve_recording(settings, target)
        rid = mf.load(directory).recording_id
    except (OSError, ValueError) as exc:
        print(f"vdispatch export: {exc}", file=sys.stderr)
        return 2
    output = Path(out).absolute()
    actor = cli_actor()
    try:
        with open_catalog(settings, "export") as catalog:
            catalog.audit(actor, "recording.export", rid, {"output": str(output)})
            rows = catalog.audit_trail(rid)
            try:
                with progress_bar("exporting") as update:
                    path = export_recording(directory, output, audit=rows, progress=update)
            except Exception as exc:
                catalog.audit(actor, "recording.export-failed", rid, {"error": str(exc)})
                print(f"vdispatch export: {exc}", file=sys.stderr)
                return 1
    except CatalogUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    print(path)
    return 0


# ------------------------------------------------------------------ a whole session


def _session_evidence(settings: Settings, session_id: str, command: str) -> SessionFiles:
    """The session's seal (if sealed) and its recordings' directories, from the catalog
    and the files. Raises LookupError naming what is missing."""
    from signaling import Hearings

    from .catalog_cli import open_catalog
    from .sealing import session_recordings, session_streams

    with open_catalog(settings, command) as catalog:
        hearings = Hearings(catalog.engine)
        hearing = hearings.get(session_id)
        if hearing is None:
            raise LookupError(f"no session {session_id!r}")
        seal = hearings.seal_of(session_id)
        latest = hearings.latest_record(session_id)
    recordings_dir = settings.recorder.recordings_dir
    if seal is not None:
        listed = json.loads(seal["record"])["recordings"]
        directories = [recordings_dir / r["id"] for r in listed]
    else:
        directories = session_recordings(recordings_dir, session_id, session_streams(hearing))
    return SessionFiles(hearing.state, seal, latest, directories, session_streams(hearing))


@dataclass
class SessionFiles:
    state: str
    seal: dict[str, Any] | None
    record: dict[str, Any] | None  # the record's newest version now {version, sha256}
    directories: list[Path]
    streams: list[str]  # the session's streams (its recordings are of these)


def verify_session(settings: Settings, session_id: str) -> int:
    """Every recording of the session, and when sealed: the seal's signature, that each
    recording's manifest signature and final chain hash are the sealed ones, that no
    recording of the session is missing from the seal, and the record's hash."""
    from recorder import verify_signature

    from .catalog_cli import CatalogUnavailable
    from .sealing import session_recordings

    try:
        files = _session_evidence(settings, session_id, "verify")
    except (LookupError, CatalogUnavailable) as exc:
        print(f"vdispatch verify: {exc}", file=sys.stderr)
        return 2

    def bad(what: str) -> int:
        print(f"session {session_id}: FAILED: {what}")
        return 1

    sealed: dict[str, dict[str, Any]] = {}
    if files.seal is not None:
        seal = files.seal
        text = seal["record"].encode()
        public = seal["public_key"].encode()
        if not verify_signature(public, text, bytes.fromhex(seal["signature"])):
            return bad("the seal's signature does not match its record")
        keys = trusted_keys(settings)
        if keys is not None and public not in keys:
            return bad("the seal was signed by a key other than this node's")
        record = json.loads(text)
        if record.get("session") != session_id:
            return bad(f"the seal is of session {record.get('session')!r}")
        sealed = {r["id"]: r for r in record["recordings"]}
        recordings_dir = settings.recorder.recordings_dir
        on_disk = {d.name for d in session_recordings(recordings_dir, session_id, files.streams)}
        unsealed = sorted(on_disk - set(sealed))
        if unsealed:
            return bad(f"recording {unsealed[0]} of the session is not in the seal")
        if record.get("record") != files.record:
            return bad(f"the record is {files.record}, the seal says {record.get('record')}")
    segments = 0
    with progress_bar("verifying") as update:
        for directory in files.directories:
            result = verify_recording(directory, trusted_keys(settings), update)
            if not result.ok:
                return bad(f"recording {directory.name}: {result.problems[0]}")
            segments += result.segments
            entry = sealed.get(directory.name)
            if entry is not None:
                manifest = mf.load(directory)
                if manifest.last_chain.hex() != entry["chain"]:
                    return bad(f"recording {directory.name}: its chain head is not the sealed one")
                signature = (directory / mf.SIGNATURE).read_bytes().hex()
                if signature != entry["signature"]:
                    return bad(f"recording {directory.name}: its manifest is not the sealed one")
    what = "sealed, seal signature OK" if files.seal is not None else f"{files.state}, not sealed"
    print(
        f"session {session_id}: OK: {what}; {len(files.directories)} recordings, "
        f"{segments} segments verified"
    )
    return 0


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

SEAL_CHAIN_CHECK = (
    "python3 -c \"import json;s=json.load(open('seal.json'));"
    "[print(r['id'],'OK' if ([{'chain':'0'*64}]+json.load(open(r['id']+'/manifest.json'))"
    "['segments'])[-1]['chain']==r['chain'] else 'MISMATCH') for r in s['recordings']]\""
)


def export_session(settings: Settings, session_id: str, out: str) -> int:
    """One zip for a sealed session: each recording's files under its own folder, the
    seal (seal.json exactly as signed, seal.sig raw, node.pub), SHA256SUMS, README, and
    the audit trail of the session and its recordings. Logged before it is written."""
    import hashlib
    import zipfile

    from .catalog_cli import CatalogUnavailable, cli_actor, open_catalog

    try:
        files = _session_evidence(settings, session_id, "export")
    except (LookupError, CatalogUnavailable) as exc:
        print(f"vdispatch export: {exc}", file=sys.stderr)
        return 2
    if files.seal is None:
        print(f"vdispatch export: session {session_id} is not sealed", file=sys.stderr)
        return 1
    seal = files.seal
    record = json.loads(seal["record"])
    output = Path(out).absolute()
    actor = cli_actor()
    try:
        with open_catalog(settings, "export") as catalog:
            catalog.audit(actor, "session.export", f"session:{session_id}", {"output": str(output)})
            audit = catalog.audit_trail(f"session:{session_id}")
            for directory in files.directories:
                audit += catalog.audit_trail(directory.name)
    except CatalogUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
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
    sums = []
    for name, data in extra.items():
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    values = {
        "session": session_id,
        "kind": record.get("kind"),
        "case_no": record.get("case_no"),
        "station": record.get("station"),
        "start": record.get("started_at"),
        "end": record.get("ended_at"),
        "count": len(files.directories),
        "chain_check": SEAL_CHAIN_CHECK,
    }
    readme = (SESSION_README_ZH + "\n" + "-" * 72 + "\n\n" + SESSION_README).format(**values)
    tmp = output.with_name(output.name + ".part")
    total = sum(path.stat().st_size for _, path in members) or 1
    done = 0
    try:
        with (
            progress_bar("exporting") as update,
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z,
        ):
            for name, data in extra.items():
                z.writestr(name, data)
            for name, path in members:
                z.write(path, name)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                sums.append(f"{digest}  {name}\n")
                done += path.stat().st_size
                update(done, total)
            z.writestr("SHA256SUMS", "".join(sums))
            z.writestr("README.txt", readme)
            z.writestr(
                "audit.jsonl", "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in audit)
            )
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        print(f"vdispatch export: {exc}", file=sys.stderr)
        return 1
    print(output)
    return 0
