"""`vdispatch verify` and `vdispatch export`: blocking commands with a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recorder import NodeKey, export_recording, verify_recording
from recorder import manifest as mf

from . import session_package
from .session_package import SessionFiles, session_files
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


def _station_spooled(directory: Path) -> bool:
    try:
        return mf.load(directory).node_id.startswith(mf.STATION_PREFIX)
    except (OSError, ValueError, TypeError, KeyError):
        return False  # verify names what is wrong with the manifest


def station_trusted_keys(settings: Settings, directory: Path) -> list[bytes]:
    """A station-spooled recording: its station's enrolled key from the catalog (none
    enrolled, or the catalog unreachable: no key, so the signer check fails)."""
    from .catalog_cli import CatalogUnavailable, open_catalog

    try:
        with open_catalog(settings, "verify") as catalog:
            return catalog.trusted_keys_for(directory, None) or []
    except CatalogUnavailable:
        return []


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
    trusted = trusted_keys(settings)
    if _station_spooled(directory):
        trusted = station_trusted_keys(settings, directory)
    with progress_bar("verifying") as update:
        result = verify_recording(directory, trusted, update)
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


def _session_files(settings: Settings, session_id: str, command: str) -> SessionFiles:
    """The session's seal (if sealed) and its recordings' directories. Raises LookupError
    naming what is missing, CatalogUnavailable."""
    from signaling import Hearings

    from .catalog_cli import open_catalog

    with open_catalog(settings, command) as catalog:
        return session_files(Hearings(catalog.engine), settings.recorder.recordings_dir, session_id)


def verify_session(settings: Settings, session_id: str) -> int:
    """Every recording of the session, and when sealed its seal (session_package)."""
    from .catalog_cli import CatalogUnavailable

    try:
        files = _session_files(settings, session_id, "verify")
    except (LookupError, CatalogUnavailable) as exc:
        print(f"vdispatch verify: {exc}", file=sys.stderr)
        return 2
    with progress_bar("verifying") as update:
        check = session_package.verify_session(
            files, settings.recorder.recordings_dir, trusted_keys(settings), update
        )
    print(check.summary())
    return 0 if check.ok else 1


def export_session(settings: Settings, session_id: str, out: str) -> int:
    """One zip for a sealed session (session_package.write_session_package), logged before
    it is written. A reception's package holds its petition ticket (the operator of the
    node's CLI holds the catalog anyway); the audit row says so, without the data."""
    from .catalog_cli import CatalogUnavailable, cli_actor, open_catalog

    try:
        files = _session_files(settings, session_id, "export")
    except (LookupError, CatalogUnavailable) as exc:
        print(f"vdispatch export: {exc}", file=sys.stderr)
        return 2
    if files.seal is None:
        print(f"vdispatch export: session {session_id} is not sealed", file=sys.stderr)
        return 1
    output = Path(out).absolute()
    try:
        with open_catalog(settings, "export") as catalog:
            petition = session_package.petition_of(catalog.engine, session_id)
            detail: dict[str, Any] = {"output": str(output)}
            if petition is not None:
                detail["petition"] = True
            catalog.audit(cli_actor(), "session.export", f"session:{session_id}", detail)
            audit = session_package.package_audit(catalog, files)
    except CatalogUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        with progress_bar("exporting") as update:
            session_package.write_session_package(files, output, audit, petition, update)
    except OSError as exc:
        print(f"vdispatch export: {exc}", file=sys.stderr)
        return 1
    print(output)
    return 0
