"""Cascade efficiency: N viewers served by the node that holds the stream, versus the same
N viewers served by a second node relaying it from the first, on loopback, in one run.

    .venv/bin/python bench/cascade.py --viewers 16 --seconds 30
    .venv/bin/python bench/cascade.py --quick              # smoke test, about a minute

Node A is `vdispatch serve`; node B is bench/cascade_node.py (the same app, its stream
directory naming A; the two share a SECRET). One publisher of bench/workload.py's 720p
VP8 at A and the viewers come from bench/loadgen.py. Runs, each on a fresh stream:

- "A alone": N viewers at A;
- "via B":   N viewers at B, which relays the stream from A over one upstream;
- "split":   N/2 viewers at each node.

For each run: CPU seconds of each node process over the steady-state window (psutil),
per viewer-second and per thousand forwarded packets (the viewers' received packets).
The machine is small and shared: compare the ratios printed at the end, within one run.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay import (
    CpuWindow,
    LoadGen,
    free_port,
    load_average,
    stop,
    vdispatch_executable,
    wait_http,
)
from workload import load_or_build

HERE = Path(__file__).resolve().parent


@dataclass
class Run:
    name: str
    at_a: int
    at_b: int
    cpu: dict[str, float]
    packets: int
    lost: int
    latency_p50_ms: float | None

    @property
    def viewers(self) -> int:
        return self.at_a + self.at_b

    def cores(self, node: str) -> float:
        return self.cpu[node]

    def per_viewer_second_ms(self, nodes: tuple[str, ...] = ("a", "b")) -> float:
        cpu_s = sum(self.cpu[n + "_cpu_s"] for n in nodes)
        return 1000 * cpu_s / (self.viewers * self.cpu["wall"])

    def per_kpacket_ms(self, nodes: tuple[str, ...] = ("a", "b")) -> float:
        cpu_s = sum(self.cpu[n + "_cpu_s"] for n in nodes)
        return 1e6 * cpu_s / max(1, self.packets)


class Nodes:
    """Node A (`vdispatch serve`) and node B (relaying from A), sharing one secret."""

    def __init__(self, workdir: Path) -> None:
        self.env = dict(os.environ)
        # this tree's packages, whichever tree the venv's editable install points at
        path = [str(HERE.parent), *filter(None, [self.env.get("PYTHONPATH")])]
        self.env.update(
            PYTHONPATH=os.pathsep.join(path),
            VDISPATCH_ICE_ADDRESSES="127.0.0.1",
            VDISPATCH_SECRET=secrets.token_hex(32),
            VDISPATCH_RECORD="false",
        )
        self._logs = []
        port_a, port_b = free_port(), free_port()
        self.a_url = f"http://127.0.0.1:{port_a}"
        self.b_url = f"http://127.0.0.1:{port_b}"
        self.a = self._start(
            workdir,
            "node-a",
            [vdispatch_executable(), "serve", "--host", "127.0.0.1", "--port", str(port_a)],
        )
        # -P: bench/ must not come first on sys.path (a bench module could shadow a package)
        b_cmd = [sys.executable, "-P", str(HERE / "cascade_node.py"), "--port", str(port_b)]
        self.b = self._start(workdir, "node-b", [*b_cmd, "--holder", f"node-a={self.a_url}"])
        wait_http(self.a_url + "/healthz", self.a)
        wait_http(self.b_url + "/healthz", self.b)
        self._tokens: dict[tuple[str, str], str] = {}

    def _start(self, workdir: Path, node_id: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        env = dict(self.env, VDISPATCH_NODE_ID=node_id, VDISPATCH_DATA_DIR=str(workdir / node_id))
        log = (workdir / f"{node_id}.log").open("wb")
        self._logs.append(log)
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)

    def token(self, stream: str, role: str) -> str:
        """`vdispatch token` with the nodes' shared secret (valid at both)."""
        if (stream, role) not in self._tokens:
            done = subprocess.run(
                [vdispatch_executable(), "token", "--stream", stream, "--role", role],
                env=self.env,
                capture_output=True,
                text=True,
                check=True,
            )
            self._tokens[(stream, role)] = done.stdout.strip().splitlines()[-1]
        return self._tokens[(stream, role)]

    def close(self) -> None:
        stop(self.a)
        stop(self.b)
        for log in self._logs:
            log.close()


def measure(
    nodes: Nodes, name: str, at_a: int, at_b: int, args: argparse.Namespace, workdir: Path
) -> Run:
    stream = "cascade-" + name.lower().replace(" ", "-")
    print(f"{name}: {at_a} viewers at A, {at_b} at B", flush=True)
    lg = LoadGen(workdir / f"loadgen-{stream}.log")
    try:
        whip = {"url": f"{nodes.a_url}/whip/{stream}", "token": nodes.token(stream, "station")}
        lg.call("publish", streams=[whip])
        time.sleep(args.warmup)
        viewer = nodes.token(stream, "viewer")
        specs = [
            {"url": f"{base}/whep/{stream}", "token": viewer, "publisher": 0}
            for base in [nodes.a_url] * at_a + [nodes.b_url] * at_b
        ]
        lg.call("subscribe", viewers=specs, timeout=60 + 5 * len(specs))
        time.sleep(args.warmup)
        lg.call("mark")
        window = CpuWindow({"a": nodes.a.pid, "b": nodes.b.pid, "loadgen": lg.pid})
        time.sleep(args.seconds)
        cpu = window.stop()
        report: dict[str, Any] = lg.call("report")
    finally:
        lg.close()
    packets = lost = 0
    for v in report["viewers"]:
        for kind in ("video", "audio"):
            if kind in v:
                packets += v[kind]["packets"]
                lost += v[kind]["lost"]
    latency = report.get("latency") or {}
    run = Run(name, at_a, at_b, cpu, packets, lost, latency.get("p50"))
    print(
        f"  A {run.cores('a'):.3f} cores, B {run.cores('b'):.3f} cores, "
        f"loadgen {cpu['loadgen']:.2f}, machine {cpu['machine']:.2f} (steal {cpu['steal']:.2f}); "
        f"{packets / cpu['wall']:.0f} packets/s to viewers, lost {lost}",
        flush=True,
    )
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="4 viewers, 10 s windows")
    args = parser.parse_args()
    if args.quick:
        args.viewers, args.seconds, args.warmup = 4, 10.0, 3.0
    workload = load_or_build()
    print(f"cascade benchmark: {workload.describe()}", flush=True)
    print(f"load average before: {load_average()}", flush=True)
    n = args.viewers
    with tempfile.TemporaryDirectory(prefix="vdispatch-cascade-") as tmp:
        workdir = Path(tmp)
        nodes = Nodes(workdir)
        try:
            alone = measure(nodes, "A alone", n, 0, args, workdir)
            via_b = measure(nodes, "via B", 0, n, args, workdir)
            split = measure(nodes, "split", n // 2, n - n // 2, args, workdir)
        finally:
            nodes.close()
    print(f"load average after: {load_average()}\n")
    print(
        f"{'run':8} {'viewers A+B':>11} {'A cores':>8} {'B cores':>8} "
        f"{'ms/viewer-s':>11} {'ms/kpkt':>8} {'lost':>6} {'p50 ms':>7}"
    )
    for r in (alone, via_b, split):
        p50 = f"{r.latency_p50_ms:.1f}" if r.latency_p50_ms is not None else "-"
        print(
            f"{r.name:8} {f'{r.at_a}+{r.at_b}':>11} {r.cores('a'):8.3f} {r.cores('b'):8.3f} "
            f"{r.per_viewer_second_ms():11.2f} {r.per_kpacket_ms():8.2f} {r.lost:6d} {p50:>7}"
        )
    print()
    print("ratios (same run):")
    print(
        f"  holder A's load, viewers via B / viewers at A:        "
        f"{via_b.cores('a') / alone.cores('a'):.2f}"
    )
    print(
        f"  relaying node B per viewer-second / A alone:          "
        f"{via_b.per_viewer_second_ms(('b',)) / alone.per_viewer_second_ms(('a',)):.2f}"
    )
    print(
        f"  both nodes per viewer-second, via B / A alone:        "
        f"{via_b.per_viewer_second_ms() / alone.per_viewer_second_ms():.2f}"
    )
    print(
        f"  both nodes per viewer-second, split / A alone:        "
        f"{split.per_viewer_second_ms() / alone.per_viewer_second_ms():.2f}"
    )
    print(
        f"  both nodes per forwarded packet, via B / A alone:     "
        f"{via_b.per_kpacket_ms() / alone.per_kpacket_ms():.2f}"
    )


if __name__ == "__main__":
    main()
