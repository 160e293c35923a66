"""`vdispatch demo` on this machine: its CPU with nobody watching, and the frame rate the
commanders' wall shows in headless Chromium.

One run: `vdispatch demo` (3 stations by default: 5 streams, the courtroom has three
cameras) in a temporary data directory, then

- idle: the demo process's CPU (psutil, user + system of the process and its threads)
  over `--idle` seconds once every stream is on air and nobody watches;
- watched: Debian's Chromium (headless, Playwright) logged in as the demo's commander on
  the wall; per tile, the frames decoded (the tile's `data-frames-decoded`, as
  tests/test_wall.py reads it) over `--seconds`, as frames per second, and the CPU of the
  demo process and of Chromium (all its processes) over the same window.

The machine's other load counts too: compare figures of one run, or runs on a quiet
machine. Run: .venv/bin/python bench/demo_fps.py [--stations 3] [--seconds 20] [--idle 10]
(`--seconds 0`: the idle CPU alone, no browser).

Measured back to back on a 2-core machine (--warmup 15 --idle 20): each picture drawn and
encoded by aiortc (before) 146% of a core idle, 11.7-12.1 fps per tile; the pre-encoded
loops (camera_agents/loop_source.py) 32% idle, 29.9 fps per tile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parent.parent
VDISPATCH = Path(sys.executable).parent / "vdispatch"
# as tests/test_browser.py launches it (loopback candidates, no GPU, no sandbox as root)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-gpu",
    "--disable-background-networking",
]
SHOWN = """() => Object.fromEntries([...document.querySelectorAll("#wall section.tile")]
  .map((t) => [t.dataset.stream, Number(t.dataset.framesDecoded || 0)]))"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer")


def password_of(data_dir: Path, name: str, timeout: float = 30.0) -> str:
    """From the demo's accounts file (name role password)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = data_dir / "demo-accounts.txt"
        if path.exists():
            for line in path.read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == name:
                    return parts[2]
        time.sleep(0.3)
    raise SystemExit("the demo wrote no accounts file")


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


async def watch(url: str, password: str, seconds: float, demo: psutil.Process) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1920, "height": 1080})
            await page.goto(f"{url}/")
            await page.locator('input[name="name"]').fill("commander")
            await page.locator('input[name="password"]').fill(password)
            await page.locator('#login-form button[type="submit"]').click()
            await page.wait_for_load_state()
            # every tile decoding, then a few seconds for the decoders to settle
            deadline = time.monotonic() + 30
            while True:
                shown: dict[str, int] = await page.evaluate(SHOWN)
                if shown and all(n > 0 for n in shown.values()):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"tiles not decoding: {shown}")
                await asyncio.sleep(0.5)
            await asyncio.sleep(5)
            browser_procs = [
                q for q in psutil.process_iter(["name"]) if "chrom" in (q.info["name"] or "")
            ]
            first: dict[str, int] = await page.evaluate(SHOWN)
            t0 = time.monotonic()
            demo0, browser0 = cpu_seconds([demo]), cpu_seconds(browser_procs)
            await asyncio.sleep(seconds)
            last: dict[str, int] = await page.evaluate(SHOWN)
            elapsed = time.monotonic() - t0
            demo_cpu = (cpu_seconds([demo]) - demo0) / elapsed
            browser_cpu = (cpu_seconds(browser_procs) - browser0) / elapsed
        finally:
            await browser.close()
    print(f"watched for {elapsed:.1f} s in headless Chromium (wall, {len(last)} tiles):")
    for stream in sorted(last):
        fps = (last[stream] - first.get(stream, 0)) / elapsed
        print(f"  {stream:<32} {fps:5.1f} fps")
    print(f"  demo process CPU while watched: {demo_cpu * 100:.0f}% of one core")
    print(f"  Chromium CPU (all its processes): {browser_cpu * 100:.0f}% of one core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="demo-fps-") as tmp:
        data_dir = Path(tmp)
        env = {**os.environ, "VDISPATCH_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [str(VDISPATCH), "demo", "--port", str(port), "--stations", str(args.stations)],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(data_dir / "demo.log", "w"),  # noqa: SIM115 (closed with the process)
        )
        try:
            wait_http(f"{url}/login")
            password = password_of(data_dir, "commander")
            demo = psutil.Process(proc.pid)
            time.sleep(args.warmup)  # the stations publish and settle
            c0, t0 = cpu_seconds([demo]), time.monotonic()
            time.sleep(args.idle)
            idle = (cpu_seconds([demo]) - c0) / (time.monotonic() - t0)
            load = os.getloadavg()[0]
            print(
                f"vdispatch demo, {args.stations} stations: idle CPU {idle * 100:.0f}% of one"
                f" core over {args.idle:.0f} s (load average {load:.2f}, {os.cpu_count()} cores)"
            )
            if args.seconds > 0:
                asyncio.run(watch(url, password, args.seconds, demo))
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
