"""deploy/*.service: systemd accepts the units as written (systemd-analyze verify, with
only the install path substituted), the hardening is on, and the one option left off
(MemoryDenyWriteExecute) is off for the reason the units give."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = {
    "vdispatch.service": "vdispatch.service",
    "vdispatch-agent@.service": "vdispatch-agent@county-a.service",
}
INSTALLED = "/opt/vdispatch/bin/vdispatch"
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    "SystemCallFilter": "@system-service",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "Restart": "on-failure",
}


def _directives(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / unit).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_both_units_without_a_word(tmp_path: Path) -> None:
    vdispatch = Path(sys.executable).with_name("vdispatch")
    assert vdispatch.exists(), vdispatch
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        assert INSTALLED in text
        (tmp_path / unit).write_text(text.replace(INSTALLED, str(vdispatch)))
    checked = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *UNITS.values()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # systemd-analyze exits 0 even for unknown keys or bad values: its words are the verdict.
    assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr


@pytest.mark.parametrize("unit", list(UNITS))
def test_the_units_are_hardened(unit: str) -> None:
    found = _directives(unit)
    for key, value in HARDENING.items():
        assert found.get(key) == [value], (unit, key, found.get(key))
    assert int(found["LimitNOFILE"][0]) >= 16384
    assert found["ReadWritePaths"] == [f"/var/lib/{found['StateDirectory'][0]}"]


def test_the_node_stops_with_sigint_so_recordings_close() -> None:
    assert _directives("vdispatch.service")["KillSignal"] == ["SIGINT"]


def test_memory_deny_write_execute_would_break_dtls() -> None:
    """Under the kernel's W^X rule (PR_SET_MDWE, what MemoryDenyWriteExecute enforces)
    pyOpenSSL cannot make the verify callback aiortc's DTLS sets: the units leave it off.
    If this ever passes the other way, turn the option on."""
    probe = (
        "import ctypes, sys\n"
        "if ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) != 0: sys.exit(77)\n"  # PR_SET_MDWE
        "from OpenSSL import SSL\n"
        "ctx = SSL.Context(SSL.DTLS_METHOD)\n"
        "try:\n"
        "    ctx.set_verify(SSL.VERIFY_PEER, lambda *a: True)\n"
        "except MemoryError:\n"
        "    sys.exit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60)
    if result.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE (Linux < 6.3)")
    assert result.returncode == 3, result.stderr
    for unit in UNITS:
        assert _directives(unit)["MemoryDenyWriteExecute"] == ["no"], unit
