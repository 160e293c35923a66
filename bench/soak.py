"""Soak: many publishers and a few viewers each through a real `vdispatch serve` for N
minutes; is the gateway's memory flat, and what does a viewer cost in memory?

    flock /tmp/vdispatch-bench.lock .venv/bin/python bench/soak.py              # 10 min
    flock /tmp/vdispatch-bench.lock .venv/bin/python bench/soak.py --minutes 2  # a try

A node's mix by default: 30 publishers, 2 of them the relay benchmark's 720p VP8 (~2.8
Mb/s, 110-330 KB keyframes every 2 s) and 28 small ones (320x180, ~250 kb/s: cheap
enough for one load generator on a small machine), each with Opus, and 2 lightweight
viewers per publisher (bench/loadgen.py: aiortc peers that count RTP at the socket).

Phases, with the gateway's RSS (psutil) at each:
  1. publishers only, `--warmup` s (the per-producer packet caches fill), then RSS sampled
     for 10 s: the baseline;
  2. viewers join; after 20 s, RSS again: (with viewers - baseline) / viewers is the
     memory per viewer;
  3. the soak: `--minutes`, RSS and gateway CPU sampled every `--sample` s, the load
     generator's counts every minute; at the end the RSS slope (least squares, MB/min)
     over the first and the second half, viewer loss, kernel drops on the gateway's
     sockets and the gateway's CPU;
  4. the viewers leave (WHEP DELETE) and, 15 s later, RSS again: what they left behind.

The first half includes the allocator settling after the viewers joined; a leak shows as a
second-half slope that stays above zero run after run (then find it with tracemalloc).

Measured on the 2-core bench machine (the default run): 0.68 MB per viewer, 0 loss,
0 kernel drops, gateway 0.47 cores; RSS NOT flat: 292 -> 392 MB over 10 min, +13.5 MB/min
in the first half and +6.0 in the second (slowing, cause not found yet). tracemalloc
snapshots of the publishers-only phase showed only the packet caches filling and aiortc's
per-peer bitrate counters; a probe thread taking snapshots stalled the gateway here, so
look with short runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from loadgen import udp_drops
from relay import (
    METRICS_TOKEN,
    CpuWindow,
    LoadGen,
    free_port,
    load_average,
    process_udp_ports,
    rss_mb,
    source_revision,
    stop,
    vdispatch_executable,
    wait_http,
)
from workload import load_or_build

TARGET_MB_PER_VIEWER = 2.0


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return float("nan")
    ts = [t for t, _ in samples]
    ms = [m for _, m in samples]
    t_mean, m_mean = statistics.fmean(ts), statistics.fmean(ms)
    var = sum((t - t_mean) ** 2 for t in ts)
    cov = sum((t - t_mean) * (m - m_mean) for t, m in zip(ts, ms, strict=True))
    return 60.0 * cov / var if var else float("nan")


def rss_median(pid: int, seconds: float, every: float = 1.0) -> float:
    values = []
    end = time.monotonic() + seconds
    while True:
        values.append(rss_mb(pid))
        if time.monotonic() >= end:
            return statistics.median(values)
        time.sleep(every)


def start_gateway(workdir: Path, record: bool) -> tuple[subprocess.Popen[bytes], str, Any]:
    port = free_port()
    env = dict(os.environ)
    env.update(
        VDISPATCH_ICE_ADDRESSES="127.0.0.1",
        VDISPATCH_DATA_DIR=str(workdir / "data"),
        VDISPATCH_RECORD="true" if record else "false",
        VDISPATCH_METRICS_LISTEN="",
        VDISPATCH_METRICS_TOKEN=METRICS_TOKEN,
    )
    log = (workdir / "gateway.log").open("wb")
    cmd = [vdispatch_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", server)
    minted: dict[tuple[str, str], str] = {}

    def token(stream: str, role: str) -> str:
        if (stream, role) not in minted:
            done = subprocess.run(
                [vdispatch_executable(), "token", "--stream", stream, "--role", role],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            minted[(stream, role)] = done.stdout.strip().splitlines()[-1]
        return minted[(stream, role)]

    return server, base, token


def totals(report: dict[str, Any]) -> tuple[int, int, int]:
    """(received, expected, lost) packets over all viewers, audio and video."""
    got = exp = lost = 0
    for v in report["viewers"]:
        for kind in ("video", "audio"):
            if kind in v:
                got += v[kind]["packets"]
                exp += v[kind]["expected"]
                lost += v[kind]["lost"]
    return got, exp, lost


def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="vdispatch-soak-"))
    big = min(args.big, args.publishers)
    for name in {"720p", "small"}:
        load_or_build(name)
    print(
        f"soak: {args.publishers} publishers ({big} x 720p, {args.publishers - big} x small),"
        f" {args.viewers} lightweight viewers each, {args.minutes:g} min;"
        f" recording {'on' if args.record else 'off'}; {psutil.cpu_count()} cores,"
        f" load average {load_average()}"
    )
    print(f"gateway source: {source_revision()}; work dir {workdir}", flush=True)
    server, base, token = start_gateway(workdir, args.record)
    lg = LoadGen(workdir / "loadgen.log")
    try:
        streams = [f"soak{i}" for i in range(args.publishers)]
        rss_start = rss_mb(server.pid)
        lg.call(
            "publish",
            streams=[
                {
                    "url": f"{base}/whip/{s}",
                    "token": token(s, "station"),
                    "workload": "720p" if i < big else "small",
                }
                for i, s in enumerate(streams)
            ],
            p2p=False,
            timeout=60 + 5 * len(streams),
        )
        print(f"  {len(streams)} publishing; warm-up {args.warmup:.0f} s ...", flush=True)
        time.sleep(args.warmup)
        rss_pub = rss_median(server.pid, 10)
        print(f"  RSS: empty {rss_start:.1f} MB, publishers only {rss_pub:.1f} MB", flush=True)

        n_viewers = args.viewers * len(streams)
        specs = [
            {
                "url": f"{base}/whep/{s}",
                "token": token(s, "viewer"),
                "publisher": i,
                "latency": False,
            }
            for i, s in enumerate(streams)
            for _ in range(args.viewers)
        ]
        lg.call("subscribe", viewers=specs, timeout=60 + 5 * len(specs))
        time.sleep(10)
        rss_view = rss_median(server.pid, 10)
        per_viewer = (rss_view - rss_pub) / n_viewers
        print(
            f"  RSS with {n_viewers} viewers {rss_view:.1f} MB: {per_viewer:.2f} MB per viewer",
            flush=True,
        )

        ports = process_udp_ports(server.pid)
        drops0 = udp_drops(ports)
        lg.call("mark")
        pids = {"gateway": server.pid, "loadgen": lg.pid}
        whole = CpuWindow(pids)
        t0 = time.monotonic()
        samples: list[tuple[float, float]] = []
        cpu: list[float] = []
        next_report = 60.0
        print(f"  soak: {args.minutes:g} min ...", flush=True)
        while (elapsed := time.monotonic() - t0) < args.minutes * 60:
            w = CpuWindow({"gateway": server.pid})
            time.sleep(min(args.sample, max(0.1, args.minutes * 60 - elapsed)))
            cpu.append(w.stop()["gateway"])
            if server.poll() is not None:
                raise RuntimeError(f"the gateway exited with {server.returncode}")
            samples.append((time.monotonic() - t0, rss_mb(server.pid)))
            if samples[-1][0] >= next_report:
                next_report += 60
                got, exp, lost = totals(lg.call("report"))
                print(
                    f"    t={samples[-1][0] / 60:4.1f} min: RSS {samples[-1][1]:.1f} MB,"
                    f" gateway {cpu[-1]:.2f} cores, viewers got {got:,} packets,"
                    f" lost {lost:,}",
                    flush=True,
                )
        cpu_all = whole.stop()
        report = lg.call("report")
        gw_drops = udp_drops(ports) - drops0
        half = samples[-1][0] / 2
        first = [s for s in samples if s[0] <= half]
        second = [s for s in samples if s[0] > half]

        lg.call("unsubscribe", timeout=120)
        time.sleep(15)
        rss_left = rss_median(server.pid, 5)
    finally:
        lg.close()
        stop(server)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    got, exp, lost = totals(report)
    s1, s2 = slope_mb_per_min(first), slope_mb_per_min(second)
    print(f"\n== soak: {len(streams)} publishers x {args.viewers} viewers, {args.minutes:g} min ==")
    print(
        f"  gateway RSS: empty {rss_start:.1f} MB, publishers only {rss_pub:.1f} MB,"
        f" with {n_viewers} viewers {rss_view:.1f} MB, end of soak {samples[-1][1]:.1f} MB"
        f" (min {min(m for _, m in samples):.1f}, max {max(m for _, m in samples):.1f}),"
        f" viewers gone {rss_left:.1f} MB"
    )
    ok = "OK" if per_viewer < TARGET_MB_PER_VIEWER else "MISS"
    print(f"  RSS per viewer: {per_viewer:.2f} MB   [target < {TARGET_MB_PER_VIEWER:g} MB: {ok}]")
    print(
        f"  RSS slope: first half {s1:+.2f} MB/min, second half {s2:+.2f} MB/min"
        f" ({len(samples)} samples every {args.sample:g} s);"
        f" over the soak {samples[-1][1] - samples[0][1]:+.1f} MB"
    )
    print(
        f"  viewer loss: {100.0 * lost / exp if exp else 0:.4f} % ({lost:,} of {exp:,});"
        f" kernel drops: gateway sockets {gw_drops}, viewer sockets"
        f" {report['viewer_socket_drops']}; load generator loop lag p99"
        f" {report['loop_lag']['p99_ms']:.1f} ms"
    )
    print(
        f"  CPU: gateway {cpu_all['gateway']:.3f} cores (10 s samples p50"
        f" {statistics.median(cpu):.3f}, max {max(cpu):.3f}), load generator"
        f" {cpu_all['loadgen']:.2f}, machine {cpu_all['machine']:.2f} of"
        f" {psutil.cpu_count()}; load average now {load_average()}"
    )
    print("  RSS samples (min: MB): " + ", ".join(f"{t / 60:.1f}: {m:.1f}" for t, m in samples))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--publishers", type=int, default=30)
    p.add_argument("--big", type=int, default=2, help="publishers of the 720p workload")
    p.add_argument("--viewers", type=int, default=2, help="viewers per publisher")
    p.add_argument("--warmup", type=float, default=40.0, help="publishers only, seconds")
    p.add_argument("--sample", type=float, default=10.0, help="RSS/CPU sample period, s")
    p.add_argument("--record", action="store_true", help="leave the gateway's recorder on")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run(parse_args(None)))
