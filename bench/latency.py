"""Gateway-added latency: one publisher through a real `vdispatch serve` to N viewers,
against a direct publisher -> viewer pair in the same load generator, for a few N.

    flock /tmp/vdispatch-bench.lock .venv/bin/python bench/latency.py
    flock /tmp/vdispatch-bench.lock .venv/bin/python bench/latency.py --viewers 1,8,32 --seconds 20

Each packet's latency is its payload's send time at the publisher (its DTLS transport's
`_send_rtp`) to the kernel's receive timestamp at the viewer's socket (SIOCGSTAMPNS),
matched by payload bytes (bench/loadgen.py); the direct pair measures the same with no
gateway, so "added" is the gateway path's percentile less the direct pair's.

The workload is bench/workload.py's 720p VP8 with 110-330 KB keyframes every 2 s, sent as
aiortc sends it: a whole frame's packets at once, unpaced (a browser's pacer spreads them
over ~100 ms or more). A keyframe is then ~250 packets arriving at once, fanned out to N
viewers one packet after another, so its last packets wait for the fan-out of the
earlier ones: keyframe packets are shown apart from delta-frame packets. Also printed:
viewer loss, kernel drops on the gateway's sockets, and the gateway's RSS per viewer.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

import relay
from workload import load_or_build

TARGET_P50_MS = relay.TARGET_LATENCY_P50_MS


def added(rep: dict[str, Any], key: str, q: str) -> float:
    via, direct = rep.get(key), (rep.get("p2p") or {}).get(key)
    return float(via[q] - direct[q]) if via and direct else float("nan")


def pacing(mbps: float) -> str:
    return f"paced {mbps:g} Mb/s" if mbps else "unpaced"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--viewers", default="1,8,32", help="viewer counts, one run each")
    p.add_argument("--seconds", type=float, default=20.0, help="measurement window per run")
    p.add_argument("--record", action="store_true", help="leave the gateway's recorder on")
    p.add_argument(
        "--pace-mbps",
        default="0",
        help="publisher video pacing, Mb/s, one or more (0: unpaced, a frame at once);"
        " e.g. 0,8: every viewer count unpaced, then paced at 8 Mb/s",
    )
    args = p.parse_args(argv)
    counts = [int(x) for x in args.viewers.split(",")]
    paces = [float(x) for x in args.pace_mbps.split(",")]
    workload = load_or_build()
    print(
        f"latency: 1 publisher x {args.viewers} lightweight viewers, {args.seconds:.0f} s each;"
        f" {psutil.cpu_count()} cores, load average {relay.load_average()}"
    )
    print(f"workload: {workload.describe()}")
    print(f"gateway source: {relay.source_revision()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="vdispatch-latency-"))
    rows: list[tuple[int, float, relay.Result]] = []
    try:
        for pace in paces:
            for n in counts:
                run = relay.parse_args(
                    ["--viewers", str(n), "--seconds", str(args.seconds), "--no-baseline"]
                    + ["--idle-seconds", "3", "--warmup", "3", "--pace-mbps", str(pace)]
                    + (["--record"] if args.record else [])
                )
                print(f"\n--- {n} viewers, {pacing(pace)} ---", flush=True)
                name = f"vdispatch-{n}-{pace:g}"
                rows.append((n, pace, relay.run_vdispatch(run, workdir, name=name)))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        "\n== gateway-added latency (via gateway less direct pair, same run), video packets, ms =="
    )
    head = (
        f"{'publisher':<16} {'viewers':>7} {'p50':>6} {'p95':>6} {'p99':>6}"
        f" | {'delta p50':>9} {'p95':>6}"
        f" | {'key p50':>7} {'p95':>6} | {'direct p50':>10} | {'loss %':>7} {'gw drops':>8}"
        f" {'MB/viewer':>9} {'gw cores':>8}"
    )
    print(head + "\n" + "-" * len(head))
    for n, pace, r in rows:
        rep = r.report
        direct = (rep.get("p2p") or {}).get("latency") or {"p50": float("nan")}
        print(
            f"{pacing(pace):<16} {n:>7} {added(rep, 'latency', 'p50'):>6.2f}"
            f" {added(rep, 'latency', 'p95'):>6.2f}"
            f" {added(rep, 'latency', 'p99'):>6.2f} |"
            f" {added(rep, 'latency_delta', 'p50'):>9.2f}"
            f" {added(rep, 'latency_delta', 'p95'):>6.2f} |"
            f" {added(rep, 'latency_keyframe', 'p50'):>7.2f}"
            f" {added(rep, 'latency_keyframe', 'p95'):>6.2f} | {direct['p50']:>10.2f} |"
            f" {r.loss_pct:>7.3f} {r.gateway_socket_drops:>8}"
            f" {(r.rss_busy - r.rss_idle) / r.viewers:>9.2f} {r.cpu:>8.3f}"
        )
    met = sum(added(r.report, "latency", "p50") < TARGET_P50_MS for _, _, r in rows)
    print(
        "(delta/key: packets of delta frames / of keyframes; MB/viewer: RSS with viewers"
        " less publisher only, per viewer (one viewer: one-time allocations included);"
        f" target p50 < {TARGET_P50_MS:g} ms met in {met} of {len(rows)} rows;"
        f" measured {time.strftime('%H:%M:%S')})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
