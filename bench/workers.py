"""Viewer workers scaling: the same load on `vdispatch serve` with media.workers=1 and
media.workers=2, in one run, and the ratios.

    flock /tmp/vdispatch-bench.lock .venv/bin/python bench/workers.py
    flock /tmp/vdispatch-bench.lock .venv/bin/python bench/workers.py --steps 8,16 --seconds 10

One publisher of bench/workload.py's 720p VP8 (bench/loadgen.py), then viewers added
in steps (lightweight loadgen viewers: they count and check packets, no decoding). At
each step, over `--seconds` of steady state: the viewers' loss, the packets delivered
per second, and the CPU of every process (psutil cpu_times): the node's main process,
each worker process, the load generator, and the machine. A ramp stops at the first
step past `--loss` percent; "max viewers" is the last step within it.

What it shows and what it cannot: the load generator is one Python process on the same
machine. On a 2-core machine it takes a core for itself near saturation, so a node with
2 media processes cannot get 2 cores: measured max viewers understates the scaling.
The CPU accounting does not: it gives packets forwarded per CPU-second of each media
process (the cost of a viewer does not grow with workers) and how the work is spread
between them; "cores available / cost per viewer" is the capacity on a machine whose
load comes from elsewhere (the deployment case: viewers are remote). Both are printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from relay import (
    METRICS_TOKEN,
    CpuWindow,
    LoadGen,
    free_port,
    load_average,
    source_revision,
    stop,
    vdispatch_executable,
    wait_http,
)
from workload import load_or_build

STREAM = "bench0"


@dataclass
class Step:
    viewers: int
    loss_pct: float
    worst_loss_pct: float
    pps: float  # media packets delivered to viewers per second
    cpu: dict[str, float]  # cores per process name, and "machine"

    @property
    def media_cores(self) -> float:
        return sum(v for k, v in self.cpu.items() if k.startswith(("main", "worker")))

    @property
    def busiest(self) -> float:
        """Cores of the busiest media process: the one that saturates first."""
        return max(v for k, v in self.cpu.items() if k.startswith(("main", "worker")))

    @property
    def pps_per_core(self) -> float:
        return self.pps / self.media_cores if self.media_cores else 0.0


@dataclass
class Ramp:
    workers: int
    steps: list[Step] = field(default_factory=list)
    limit: float = 1.0

    def passing(self) -> list[Step]:
        return [s for s in self.steps if s.loss_pct <= self.limit]

    @property
    def max_viewers(self) -> int:
        ok = self.passing()
        return ok[-1].viewers if ok else 0

    def projected(self) -> float | None:
        """Viewers at which the busiest media process would need a whole core: a
        least-squares line through (viewers, that process's cores) over the steps within
        the loss limit. A projection from measured CPU, not a measured limit."""
        ok = self.passing()
        if len(ok) < 2:
            return None
        xs = [float(s.viewers) for s in ok]
        ys = [s.busiest for s in ok]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        if slope <= 0:
            return None
        return (1.0 - (my - slope * mx)) / slope

    @property
    def best_pps(self) -> float:
        ok = self.passing()
        return max((s.pps for s in ok), default=0.0)


def worker_pids(main: int) -> list[int]:
    children = psutil.Process(main).children(recursive=True)
    return sorted(p.pid for p in children if "vdispatch.worker" in " ".join(p.cmdline()))


def tokens(env: dict[str, str]) -> dict[str, str]:
    out = {}
    for role in ("station", "viewer"):
        done = subprocess.run(
            [vdispatch_executable(), "token", "--stream", STREAM, "--role", role],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out[role] = done.stdout.strip().splitlines()[-1]
    return out


def ramp(workers: int, args: argparse.Namespace, workdir: Path) -> Ramp:
    port = free_port()
    env = dict(os.environ)
    env.update(
        VDISPATCH_ICE_ADDRESSES="127.0.0.1",
        VDISPATCH_DATA_DIR=str(workdir / f"w{workers}-data"),
        VDISPATCH_RECORD="false",
        VDISPATCH_METRICS_LISTEN="",
        VDISPATCH_METRICS_TOKEN=METRICS_TOKEN,
        VDISPATCH_MEDIA__WORKERS=str(workers),
    )
    cmd = [vdispatch_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = workdir / f"w{workers}.log"
    log = log_path.open("wb")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    result = Ramp(workers, limit=args.loss)
    lg = None
    try:
        wait_http(f"{base}/healthz", server)
        deadline = time.monotonic() + 60
        while len(worker_pids(server.pid)) < workers - 1 or (
            workers > 1 and b"viewer worker" not in log_path.read_bytes()
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not up (see {log_path})")
            time.sleep(0.2)
        time.sleep(1.0)
        minted = tokens(env)
        print(f"workers={workers}: vdispatch serve (pid {server.pid}) on {base}", flush=True)
        lg = LoadGen(workdir / f"loadgen-w{workers}.log")
        lg.call("publish", streams=[{"url": f"{base}/whip/{STREAM}", "token": minted["station"]}])
        time.sleep(args.warmup)
        have = 0
        for target in args.steps:
            spec = {"url": f"{base}/whep/{STREAM}", "token": minted["viewer"], "publisher": 0}
            lg.call("subscribe", viewers=[spec] * (target - have), timeout=60 + 5 * target)
            have = target
            time.sleep(args.warmup)
            pids = {"main": server.pid, "loadgen": lg.pid}
            pids |= {f"worker{i + 1}": pid for i, pid in enumerate(worker_pids(server.pid))}
            lg.call("mark")
            window = CpuWindow(pids)
            time.sleep(args.seconds)
            cpu = window.stop()
            report = lg.call("report")
            step = _step(target, report, cpu, pids)
            result.steps.append(step)
            print(
                f"  {target:4d} viewers: loss {step.loss_pct:5.2f}%"
                f" (worst {step.worst_loss_pct:5.2f}%)"
                f"  {step.pps:8.0f} pkt/s  media cores {step.media_cores:4.2f}"
                f" ({_cores(step)})  loadgen {cpu['loadgen']:4.2f}  machine {cpu['machine']:4.2f}"
                f"  load {load_average()}",
                flush=True,
            )
            if step.loss_pct > args.loss:
                break
    finally:
        if lg is not None:
            lg.close()
        stop(server)
        log.close()
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if _orphan(p, log_path)]
    if leftovers:
        print(f"  left running after stop: {[p.pid for p in leftovers]}", flush=True)
    return result


def _orphan(p: psutil.Process, log_path: Path) -> bool:
    cmdline = " ".join(p.info.get("cmdline") or [])
    return "vdispatch.worker" in cmdline and p.ppid() == 1


def _cores(step: Step) -> str:
    parts = [f"{k} {v:.2f}" for k, v in step.cpu.items() if k.startswith(("main", "worker"))]
    return ", ".join(parts)


def _step(
    viewers: int, report: dict[str, Any], cpu: dict[str, float], pids: dict[str, int]
) -> Step:
    expected = lost = packets = 0
    worst = 0.0
    kinds = ("video", "audio")
    most = max(
        (sum(v[k]["expected"] for k in kinds if k in v) for v in report["viewers"]), default=0
    )
    for v in report["viewers"]:
        e = sum(v[k]["expected"] for k in kinds if k in v)
        lo = sum(v[k]["lost"] for k in kinds if k in v)
        got = sum(v[k]["packets"] for k in kinds if k in v)
        packets += got
        if e < most // 2:  # stalled: its sequence numbers did not move, nothing to count
            e, lo = most, most - got
        expected += e
        lost += lo
        if e:
            worst = max(worst, 100.0 * lo / e)
    cores = {name: cpu[name] for name in pids}
    cores["machine"] = cpu["machine"]
    return Step(
        viewers,
        100.0 * lost / expected if expected else 0.0,
        worst,
        packets / report["elapsed"] if report["elapsed"] else 0.0,
        cores,
    )


def summary(one: Ramp, two: Ramp) -> None:
    print("\nworkers scaling 1 -> 2 media processes")
    print(f"  source: {source_revision()}; cores: {os.cpu_count()}; loss limit {one.limit}%")
    for r in (one, two):
        ok = r.passing()
        last = ok[-1] if ok else None
        per_core = f"{last.pps_per_core:8.0f}" if last else "       -"
        print(
            f"  workers={r.workers}: max viewers {r.max_viewers:4d}, delivered {r.best_pps:8.0f}"
            f" pkt/s, {per_core} pkt/s per media core-second"
        )
    if one.max_viewers:
        print(f"  max viewers ratio (2/1): {two.max_viewers / one.max_viewers:.2f}")
    if one.best_pps:
        print(f"  delivered packets ratio (2/1): {two.best_pps / one.best_pps:.2f}")
    same = sorted({s.viewers for s in one.passing()} & {s.viewers for s in two.passing()})
    if same:
        n = same[-1]
        a = next(s for s in one.steps if s.viewers == n)
        b = next(s for s in two.steps if s.viewers == n)
        print(
            f"  at {n} viewers: media cores {a.media_cores:.2f} -> {b.media_cores:.2f},"
            f" busiest process {a.busiest:.2f} -> {b.busiest:.2f} cores,"
            f" packets per media core-second ratio (2/1) {b.pps_per_core / a.pps_per_core:.2f}"
        )
    p1, p2 = one.projected(), two.projected()
    if p1 and p2:
        print(
            f"  projected viewers at one core in the busiest process: {p1:.0f} -> {p2:.0f},"
            f" ratio (2/1) {p2 / p1:.2f} (from measured CPU; the load generator shares the"
            " machine, so measured max viewers cannot show it)"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", default="8,16,24,32,40,48,64", help="viewer counts, ascending")
    p.add_argument("--seconds", type=float, default=15.0, help="steady state per step")
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--loss", type=float, default=1.0, help="loss limit, percent")
    p.add_argument("--workers", default="1,2", help="media.workers values to ramp, in order")
    p.add_argument("--keep", type=Path, help="keep the logs in this directory")
    args = p.parse_args(argv)
    args.steps = [int(s) for s in args.steps.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_or_build()
    with tempfile.TemporaryDirectory(prefix="vdispatch-workers-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ramps = [ramp(int(w), args, workdir) for w in args.workers.split(",")]
        if len(ramps) == 2:
            summary(*ramps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
