"""The audit log is a hash chain: an edited, deleted or rewritten row is named by
`vdispatch verify --audit`, on SQLite and PostgreSQL. Exports are audited and carry the
recording's audit trail."""

from __future__ import annotations

import itertools
import json
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text

from catalog import CatalogSettings
from catalog.audit import GENESIS, canonical, link
from catalog.recordings import Catalog
from catalog.schema import parse_iso

from .catalogs import cli, copy_recording


@pytest.fixture
def catalog(database_url: str, tmp_path: Path) -> Catalog:
    opened = Catalog.open(CatalogSettings(data_dir=tmp_path / "var", database_url=database_url))
    for n in range(1, 6):
        opened.audit(f"token:t{n} (Ann)", "segment.view", f"rec-{n}/segments/1", {"range": None})
    return opened


def _sql(catalog: Catalog, statement: str) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(text(statement))


def _verify(catalog: Catalog, tmp_path: Path) -> tuple[int, str]:
    url = catalog.settings.database_url
    result = cli(tmp_path / "var", "verify", "--audit", database_url=url)
    return result.returncode, result.stdout + result.stderr


def test_an_intact_chain_verifies(catalog: Catalog, tmp_path: Path) -> None:
    rows = catalog.audit_rows()
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    status, out = _verify(catalog, tmp_path)
    catalog.dispose()
    assert status == 0, out
    assert f"audit log: OK: 5 rows, hash chain intact, head {rows[-1]['hash']}" in out


def test_audit_rows_are_filtered_on_both_backends(catalog: Catalog) -> None:
    rows = catalog.audit_rows()
    try:
        assert [r["id"] for r in catalog.audit_rows(actor="t3")] == [3]
        assert [r["id"] for r in catalog.audit_rows(actor="Ann")] == [1, 2, 3, 4, 5]
        assert catalog.audit_rows(actor="t_") == []  # LIKE wildcards are literal
        assert [r["id"] for r in catalog.audit_rows(target="rec-2")] == [2]
        assert catalog.audit_rows(target="rec-2/seg") == []
        assert catalog.audit_rows(action="recording.export") == []
        at = [parse_iso(r["at"]) for r in rows]
        assert [r["id"] for r in catalog.audit_rows(start=at[1], end=at[3])] == [2, 3, 4]
        assert [r["id"] for r in catalog.audit_rows(after=3, limit=1)] == [4]
        assert [r["id"] for r in catalog.audit_trail("rec-5")] == [5]
    finally:
        catalog.dispose()


def test_an_edited_row_is_named(catalog: Catalog, tmp_path: Path) -> None:
    _sql(catalog, "UPDATE audit_log SET actor = 'someone else' WHERE id = 3")
    check = catalog.check_audit()
    assert (check.bad_row, check.ok) == (3, False)
    status, out = _verify(catalog, tmp_path)
    catalog.dispose()
    assert status == 1
    assert "audit log: FAILED at row 3: its content does not match its hash" in out


def test_an_edited_detail_is_named(catalog: Catalog, tmp_path: Path) -> None:
    _sql(catalog, """UPDATE audit_log SET detail = '{"range": "bytes=0-1"}' WHERE id = 4""")
    check = catalog.check_audit()
    catalog.dispose()
    assert check.summary().startswith("audit log: FAILED at row 4: its content does not match")


def test_a_deleted_row_is_named(catalog: Catalog, tmp_path: Path) -> None:
    _sql(catalog, "DELETE FROM audit_log WHERE id = 2")
    status, out = _verify(catalog, tmp_path)
    catalog.dispose()
    assert status == 1
    assert "FAILED at row 3: row 2 missing before it: deleted" in out


def test_a_row_rewritten_with_a_fresh_hash_is_caught_at_the_next_row(
    catalog: Catalog, tmp_path: Path
) -> None:
    row = catalog.audit_rows()[1]
    forged = link(
        row["prev_hash"],
        canonical(2, parse_iso(row["at"]), "nobody", row["action"], row["target"], row["detail"]),
    )
    _sql(catalog, f"UPDATE audit_log SET actor = 'nobody', hash = '{forged}' WHERE id = 2")
    check = catalog.check_audit()
    catalog.dispose()
    assert check.bad_row == 3
    assert check.problem is not None and "prev_hash does not match row 2's hash" in check.problem


def test_each_row_as_published_recomputes_to_its_hash(catalog: Catalog) -> None:
    """What the API and audit.jsonl give out is enough to check a row without vdispatch."""
    rows = catalog.audit_rows()
    catalog.dispose()
    for r in rows:
        content = canonical(
            r["id"], parse_iso(r["at"]), r["actor"], r["action"], r["target"], r["detail"]
        )
        assert link(r["prev_hash"], content) == r["hash"]


def test_the_export_is_audited_and_carries_the_recordings_trail(
    tmp_path: Path, recording_template: Path
) -> None:
    data = tmp_path / "var"
    rec = copy_recording(recording_template, data)
    other = copy_recording(recording_template, data, "other-rec")
    assert cli(data, "recording", "hold", rec.name, "--reason", "case 17").returncode == 0
    assert cli(data, "recording", "hold", other.name).returncode == 0
    out = tmp_path / "evidence.zip"
    result = cli(data, "export", rec.name, "-o", str(out))
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as z:
        trail = [json.loads(line) for line in z.read("audit.jsonl").decode().splitlines()]
    assert [r["action"] for r in trail] == ["recording.hold", "recording.export"]
    assert all(r["target"] == rec.name for r in trail)
    assert trail[0]["detail"] == {"reason": "case 17"}
    assert trail[1]["detail"] == {"output": str(out)}
    assert trail[1]["actor"].startswith("cli:")
    assert cli(data, "verify", "--audit").returncode == 0
