"""Relay benchmark: N publishers x M viewers through a real `vdispatch serve` on loopback,
against baselines measured in the same run.

    .venv/bin/python bench/relay.py --publishers 1 --viewers 16 --seconds 60 --warmup 5
    .venv/bin/python bench/relay.py --quick            # smoke test, under a minute
    .venv/bin/python bench/relay.py --viewers 16 --profile /tmp/prof   # + py-spy profile

Against Janus (`apt-get install janus`: Debian's Janus 1.1.x and its VideoRoom plugin;
without it the Janus part is skipped with a message):

    .venv/bin/python bench/relay.py --against janus --no-baseline --viewers 16 --record
    .venv/bin/python bench/relay.py --against janus --sizes 4full,16,32 --seconds 30

The second is issue 12's table in one run: per viewer count (4 full aiortc viewers, 16
and 32 lightweight ones) Janus, vdispatch with recording off and vdispatch with
recording on, one after the other; then gateway CPU, forwarded packets per gateway
core-second, viewer loss, added latency and RSS per viewer, and the ratios
vdispatch/Janus. Janus runs from a throw-away config folder (bench/janus.py: HTTP
transport and VideoRoom only, its own ports); the same publisher workload and viewers go
through its VideoRoom signaling instead of WHIP/WHEP.

Processes: the gateway under test (`vdispatch serve`), the load generator
(bench/loadgen.py: publishers, viewers and a direct publisher -> viewer pair), and for
the baseline a naive aiortc MediaRelay gateway (bench/mediarelay_server.py) that decodes
and re-encodes per viewer, or Janus. CPU is read with psutil from each process's cpu_times over
the steady-state window. The machine is small and shared, so figures are printed next
to the machine's other load and compared as ratios within the run.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

import janus
from loadgen import udp_drops
from workload import load_or_build

HERE = Path(__file__).resolve().parent
PACKAGES = tomllib.loads((HERE.parent / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]

TARGET_PPS_PER_CORE = 30_000
TARGET_CPU_RATIO = 20.0
TARGET_LATENCY_P50_MS = 5.0
JANUS_ROOM = 4200  # rooms JANUS_ROOM + publisher index
JANUS_RTP_PORTS = (42000, 42999)


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {timeout:.0f} s")


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def vdispatch_executable() -> str:
    beside = Path(sys.executable).parent / "vdispatch"
    if beside.exists():
        return str(beside)
    found = shutil.which("vdispatch")
    if not found:
        raise SystemExit("vdispatch is not installed (make install)")
    return found


class LoadGen:
    """bench/loadgen.py as a child process, one JSON line per command and reply."""

    def __init__(self, log: Path, address: str = "127.0.0.1") -> None:
        """`address`: the peers' ICE host address."""
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "loadgen.py"), address],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.pid = self.proc.pid
        self._read(60)

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            raise RuntimeError(f"load generator gave no answer (see {self._log.name})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"load generator: {reply['error']} (see {self._log.name})")
        return reply

    def call(self, cmd: str, timeout: float = 120.0, **kw: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"cmd": cmd, **kw}) + "\n").encode())
        self.proc.stdin.flush()
        return self._read(timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("quit", timeout=20)
        stop(self.proc)
        self._log.close()


# ---------------------------------------------------------------- measuring


class CpuWindow:
    """CPU seconds of given processes and of the whole machine over a wall-clock window."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._start = {name: p.cpu_times() for name, p in self._procs.items()}
        self._waits = {name: p.num_ctx_switches().voluntary for name, p in self._procs.items()}
        self._sys = psutil.cpu_times()
        self._t = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self._t
        out = {"wall": wall}
        for name, p in self._procs.items():
            t, t0 = p.cpu_times(), self._start[name]
            out[name + "_user"] = (t.user - t0.user) / wall
            out[name + "_system"] = (t.system - t0.system) / wall
            out[name + "_cpu_s"] = (t.user + t.system) - (t0.user + t0.system)
            out[name] = out[name + "_cpu_s"] / wall
            # voluntary context switches: how often the process slept and was woken
            waits = p.num_ctx_switches().voluntary - self._waits[name]
            out[name + "_wakeups"] = waits / wall
        now = psutil.cpu_times()
        busy = _busy(now) - _busy(self._sys)
        out["machine"] = busy / wall
        out["steal"] = (getattr(now, "steal", 0) - getattr(self._sys, "steal", 0)) / wall
        return out


def _busy(t: Any) -> float:
    """Machine CPU seconds spent running something here (nice, irq and softirq included;
    guest time is already in user, steal is time this VM did not run)."""
    return float(
        sum(t)
        - t.idle
        - getattr(t, "iowait", 0.0)
        - getattr(t, "steal", 0.0)
        - getattr(t, "guest", 0.0)
        - getattr(t, "guest_nice", 0.0)
    )


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 1e6


def process_udp_ports(pid: int) -> set[int]:
    try:
        return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="udp")}
    except (psutil.Error, OSError):
        return set()


# The gateway's /metrics on its public port answers this token (no metrics listener: the
# gateways of a run would want the same port).
METRICS_TOKEN = secrets.token_hex(16)
INGRESS = re.compile(r"vdispatch_stream_packets_(?:received_)?total\{([^}]*)\} (\S+)")
STREAM_LABEL = re.compile(r'stream="([^"]+)"')


def gateway_ingress_packets(base: str) -> dict[str, int]:
    """Packets received per stream (audio and video), from the gateway's own /metrics."""
    out: dict[str, int] = {}
    request = urllib.request.Request(
        base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=5) as r:
        for m in INGRESS.finditer(r.read().decode()):
            stream = STREAM_LABEL.search(m.group(1))
            if stream is not None:
                out[stream[1]] = out.get(stream[1], 0) + int(float(m.group(2)))
    return out


def source_revision() -> str:
    """Which gateway code is measured: HEAD, and whether the packages have uncommitted changes."""
    root = HERE.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", *PACKAGES],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head[:70] + (" + uncommitted changes" if dirty else "")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Result:
    name: str
    pid: int
    viewers: int
    idle: dict[str, float] = field(default_factory=dict)
    busy: dict[str, float] = field(default_factory=dict)
    rss_idle: float = 0.0
    rss_busy: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)
    ingress: int | None = None
    gateway_socket_drops: int = 0
    first_video_s: float | None = None
    load_before: str = ""
    load_after: str = ""
    window: tuple[float, float] = (0.0, 0.0)
    log: Path | None = None
    profile: Path | None = None
    profile_idle: Path | None = None

    # ---- derived figures ----

    def total(self, kind: str | None, key: str) -> int:
        kinds = (kind,) if kind else ("video", "audio")
        return sum(v[k][key] for v in self.report["viewers"] for k in kinds if k in v)

    @property
    def packets(self) -> int:
        return self.total(None, "packets")

    @property
    def cpu(self) -> float:
        return self.busy["gateway"]

    @property
    def cpu_idle(self) -> float:
        return self.idle["gateway"]

    @property
    def loss_pct(self) -> float:
        expected = self.total(None, "expected")
        return 100.0 * self.total(None, "lost") / expected if expected else 0.0

    @property
    def worst_viewer_loss_pct(self) -> float:
        worst = 0.0
        for v in self.report["viewers"]:
            exp = sum(v[k]["expected"] for k in ("video", "audio") if k in v)
            lost = sum(v[k]["lost"] for k in ("video", "audio") if k in v)
            if exp:
                worst = max(worst, 100.0 * lost / exp)
        return worst

    @property
    def viewer_fps(self) -> float:
        """Video frames per second per viewer, averaged over viewers."""
        return self.total("video", "frames") / self.busy["wall"] / max(1, self.viewers)

    def cpu_per_viewer(self, marginal: bool = False, full_rate: float = 0.0) -> float:
        """Gateway cores per viewer; `full_rate`: count viewers as delivered fps / full_rate."""
        cores = self.cpu - (self.cpu_idle if marginal else 0.0)
        viewers = self.viewers * (self.viewer_fps / full_rate if full_rate else 1.0)
        return cores / viewers if viewers else float("nan")


# ---------------------------------------------------------------- one target


def measure(
    name: str,
    server: subprocess.Popen[bytes],
    base: str,
    tokens: Any,
    args: argparse.Namespace,
    viewers: int,
    seconds: float,
    p2p: bool,
    workdir: Path,
    profile_dir: Path | None = None,
    janus_base: str | None = None,
    address: str = "127.0.0.1",
) -> Result:
    """`janus_base`: the gateway is Janus, publish and subscribe through its VideoRoom
    (a room per publisher) instead of WHIP/WHEP."""
    stream_ids = [f"bench{i}" for i in range(args.publishers)]
    lg = LoadGen(workdir / f"loadgen-{name}.log", address)
    res = Result(name, server.pid, viewers * args.publishers)

    def signaling(i: int, s: str, role: str) -> dict[str, Any]:
        if janus_base is not None:
            return {"janus": janus_base, "room": JANUS_ROOM + i}
        path = "whip" if role == "station" else "whep"
        return {"url": f"{base}/{path}/{s}", "token": tokens(s, role) if tokens else ""}

    try:
        streams = [signaling(i, s, "station") for i, s in enumerate(stream_ids)]
        lg.call("publish", streams=streams, p2p=p2p, pace_mbps=args.pace_mbps)
        time.sleep(args.warmup)
        pids = {"gateway": server.pid, "loadgen": lg.pid}

        print(f"  publishers only: {args.idle_seconds:.0f} s ...", flush=True)
        w = CpuWindow(pids)
        time.sleep(args.idle_seconds)
        res.idle = w.stop()
        res.rss_idle = rss_mb(server.pid)
        if profile_dir is not None and args.profile_idle:
            res.profile_idle = run_profiler(server.pid, profile_dir, f"{name}-idle", 0, args)

        print(f"  connecting {res.viewers} viewers ...", flush=True)
        specs = [
            {**signaling(i, s, "viewer"), "publisher": i, "full": args.full}
            for i, s in enumerate(stream_ids)
            for _ in range(viewers)
        ]
        sub = lg.call("subscribe", viewers=specs, timeout=60 + 5 * len(specs))
        res.first_video_s = sub.get("first_video_s_max")
        time.sleep(args.warmup)

        print(f"  steady state: {seconds:.0f} s ...", flush=True)
        gw_ports = process_udp_ports(server.pid)
        drops0 = udp_drops(gw_ports)
        ingress0 = gateway_ingress_packets(base) if tokens else {}
        res.load_before = load_average()
        lg.call("mark")
        w = CpuWindow(pids)
        t0 = time.time()
        time.sleep(seconds)
        res.busy = w.stop()
        res.window = (t0, time.time())
        res.report = lg.call("report")
        ingress1 = gateway_ingress_packets(base) if tokens else {}
        res.load_after = load_average()
        res.rss_busy = rss_mb(server.pid)
        res.gateway_socket_drops = udp_drops(gw_ports) - drops0
        if ingress0 and ingress1:
            res.ingress = sum(ingress1[s] - ingress0.get(s, 0) for s in ingress1) * viewers

        if profile_dir is not None:
            res.profile = run_profiler(server.pid, profile_dir, name, res.viewers, args)
    finally:
        lg.close()
    return res


def run_profiler(
    pid: int, out_dir: Path, name: str, viewers: int, args: argparse.Namespace
) -> Path | None:
    spy = Path(sys.executable).parent / "py-spy"
    exe = str(spy) if spy.exists() else shutil.which("py-spy")
    if not exe:
        print("  py-spy not installed (pip install py-spy): no profile", flush=True)
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}-{viewers}v.folded"
    print(f"  profiling the gateway with py-spy for {args.profile_seconds:.0f} s ...", flush=True)
    cmd = [exe, "record", "--pid", str(pid), "--duration", str(int(args.profile_seconds))]
    cmd += ["--rate", "200", "--format", "raw", "--output", str(out)]
    if args.profile_native:
        cmd.append("--native")
    w = CpuWindow({"gateway": pid})
    done = subprocess.run(cmd, capture_output=True, text=True)
    cpu = w.stop()
    if done.returncode != 0 or not out.exists():
        print(f"  py-spy failed: {done.stderr.strip()[-500:]}", flush=True)
        return None
    print(f"  (gateway CPU while profiled: {cpu['gateway']:.2f} cores)", flush=True)
    return out


def run_vdispatch(
    args: argparse.Namespace, workdir: Path, src: Path | None = None, name: str = "vdispatch"
) -> Result:
    """`src`: run the gateway from that source tree instead (PYTHONPATH before the venv's
    editable install), to A/B a change in the same run."""
    port = free_port()
    data_dir = workdir / f"{name}-data"
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    env.update(
        VDISPATCH_ICE_ADDRESSES="127.0.0.1",
        VDISPATCH_DATA_DIR=str(data_dir),
        VDISPATCH_RECORD="true" if args.record else "false",
        VDISPATCH_METRICS_LISTEN="",
        VDISPATCH_METRICS_TOKEN=METRICS_TOKEN,
    )
    cmd = [vdispatch_executable(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if args.gc_probe:  # diagnosis: the same command line, with GC pauses logged
        # -P: bench/ not first on sys.path, where a bench module could shadow a package's
        cmd = [sys.executable, "-P", str(HERE / "gcprobe.py"), *cmd[1:]]
    log_path = workdir / f"{name}.log"
    for attempt in range(3):  # the tree may be mid-edit by someone else for a moment
        log = log_path.open("wb")
        server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", server)
            break
        except RuntimeError as exc:
            stop(server)
            log.close()
            tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
            print(f"  gateway did not start ({exc}):\n    " + "\n    ".join(tail), flush=True)
            if attempt == 2:
                raise
            time.sleep(10)
            port = free_port()
            cmd[cmd.index("--port") + 1] = str(port)
    base = f"http://127.0.0.1:{port}"
    try:
        minted: dict[tuple[str, str], str] = {}

        def tokens(stream: str, role: str) -> str:
            """`vdispatch token` with the gateway's data dir (so its secret); one per
            stream and role. (Not signaling.TokenIssuer in-process: bench/ comes first
            on sys.path here, and a bench module may shadow a package of ours.)"""
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

        print(
            f"vdispatch serve (pid {server.pid}) on {base}" + (f", from {src}" if src else ""),
            flush=True,
        )
        res = measure(
            name,
            server,
            base,
            tokens,
            args,
            args.viewers,
            args.seconds,
            p2p=True,
            workdir=workdir,
            profile_dir=args.profile,
        )
        if args.gc_probe:
            res.log = workdir / f"{name}.log"
        return res
    finally:
        stop(server)
        log.close()


def run_janus(args: argparse.Namespace, workdir: Path, name: str = "janus") -> Result:
    """Janus VideoRoom (Debian's janus) with the same publishers and viewers."""
    port = free_port()
    address = janus.ice_address()
    if address is None:
        raise RuntimeError("no non-loopback IPv4 address for Janus's ICE (libnice skips lo)")
    log = (workdir / f"{name}.log").open("wb")
    server = janus.start(workdir / name, port, JANUS_RTP_PORTS, address, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/janus/info", server)
        print(f"Janus VideoRoom (pid {server.pid}) on {base}", flush=True)
        return measure(
            name,
            server,
            base,
            None,
            args,
            args.viewers,
            args.seconds,
            p2p=True,
            workdir=workdir,
            janus_base=base,
            address=address,
        )
    finally:
        stop(server)
        log.close()


def run_mediarelay(args: argparse.Namespace, workdir: Path) -> Result:
    port = free_port()
    log = (workdir / "mediarelay.log").open("wb")
    cmd = [sys.executable, str(HERE / "mediarelay_server.py"), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", server)
        print(f"MediaRelay baseline (pid {server.pid}) on {base}", flush=True)
        return measure(
            "mediarelay",
            server,
            base,
            None,
            args,
            args.baseline_viewers,
            args.baseline_seconds,
            p2p=False,
            workdir=workdir,
        )
    finally:
        stop(server)
        log.close()


# ---------------------------------------------------------------- printing


def _ok(good: bool) -> str:
    return "OK" if good else "MISS"


def pps_per_core(r: Result) -> float:
    cpu_s = r.busy["gateway_cpu_s"]
    return r.packets / cpu_s if cpu_s else float("nan")


def print_gateway(r: Result, args: argparse.Namespace, label: str = "vdispatch") -> None:
    rep = r.report
    wall = r.busy["wall"]
    pps_core = pps_per_core(r)
    marginal_s = (r.cpu - r.cpu_idle) * wall
    print(f"\n== {label}: {args.publishers} publisher(s) x {args.viewers} viewers ==")
    print(f"  load average before/after the window: {r.load_before} / {r.load_after}")
    print(
        f"  machine CPU in the window: {r.busy['machine']:.2f} of {psutil.cpu_count()} cores"
        f" (gateway {r.cpu:.2f}, load generator {r.busy['loadgen']:.2f},"
        f" everything else {r.busy['machine'] - r.cpu - r.busy['loadgen']:.2f})"
    )
    print(
        f"  load generator loop lag p99 {rep['loop_lag']['p99_ms']:.1f} ms,"
        f" max {rep['loop_lag']['max_ms']:.1f} ms; CPU steal {r.busy['steal']:.2f} cores"
    )
    print(
        f"  gateway CPU: publishers only {r.cpu_idle:.3f} cores;"
        f" with {r.viewers} viewers {r.cpu:.3f} cores ({wall:.0f} s;"
        f" user {r.busy['gateway_user']:.3f}, system {r.busy['gateway_system']:.3f});"
        f" wakeups/s {r.idle.get('gateway_wakeups', 0):,.0f} and"
        f" {r.busy.get('gateway_wakeups', 0):,.0f}"
    )
    print(
        f"  forwarded RTP packets received by viewers: {r.packets:,}"
        f" ({r.packets / wall:,.0f}/s; video {r.total('video', 'packets'):,},"
        f" audio {r.total('audio', 'packets'):,})"
    )
    if r.ingress is not None:
        print(
            f"    cross-check: gateway /metrics ingress x viewers = {r.ingress:,}"
            f" ({100.0 * r.packets / r.ingress if r.ingress else 0:.2f} % of it reached viewers)"
        )
    print(
        f"  forwarded packets per gateway-core-second: {pps_core:,.0f}"
        f"   [target >= {TARGET_PPS_PER_CORE:,}: {_ok(pps_core >= TARGET_PPS_PER_CORE)}]"
    )
    if marginal_s > 0:
        print(
            f"    marginal (gateway CPU above publishers-only): {r.packets / marginal_s:,.0f}"
            " packets per core-second"
        )
    lost = r.total(None, "lost")
    print(
        f"  viewer packet loss: {r.loss_pct:.4f} % ({lost:,} of {r.total(None, 'expected'):,};"
        f" worst viewer {r.worst_viewer_loss_pct:.4f} %)   [target 0: {_ok(lost == 0)}]"
    )
    print(
        f"    kernel drops: viewer sockets {rep['viewer_socket_drops']},"
        f" gateway sockets {r.gateway_socket_drops}; worst stall at a viewer"
        f" {max(v['video']['max_stall_ms'] for v in rep['viewers']):.0f} ms;"
        f" all viewers started on a keyframe:"
        f" {all(v['video']['first_keyframe'] for v in rep['viewers'])}"
    )
    lat, direct = rep["latency"], (rep["p2p"] or {}).get("latency")
    if lat and direct:
        p50 = lat["p50"] - direct["p50"]
        p99 = lat["p99"] - direct["p99"]
        print(
            f"  latency publisher -> viewer (kernel receive stamp), video:"
            f"\n    via gateway p50 {lat['p50']:.2f} p90 {lat['p90']:.2f} p99 {lat['p99']:.2f}"
            f" max {lat['max']:.1f} ms ({lat['n']:,} packets)"
            f"\n    direct      p50 {direct['p50']:.2f} p90 {direct['p90']:.2f}"
            f" p99 {direct['p99']:.2f} max {direct['max']:.1f} ms ({direct['n']:,} packets)"
        )
        for label, key in (("keyframe", "latency_keyframe"), ("delta-frame", "latency_delta")):
            a, b = rep.get(key), (rep["p2p"] or {}).get(key)
            if a and b:
                print(
                    f"    {label} packets only ({100.0 * a['n'] / lat['n']:.0f} %): via gateway"
                    f" p50 {a['p50']:.2f} p99 {a['p99']:.2f} ms,"
                    f" direct p50 {b['p50']:.2f} p99 {b['p99']:.2f} ms"
                )
        first = rep.get("latency_first_viewer")
        if first:
            print(
                f"    first viewer only: p50 {first['p50']:.2f} p99 {first['p99']:.2f} ms"
                " (later viewers wait for the fan-out to reach them)"
            )
        print(
            f"  gateway-added latency: p50 {p50:.2f} ms, p99 {p99:.2f} ms"
            f"   [target p50 < {TARGET_LATENCY_P50_MS:.0f} ms: {_ok(p50 < TARGET_LATENCY_P50_MS)}]"
        )
    else:
        print("  latency: no matched packets")
    print_stalls(r)
    print(
        f"  gateway RSS: publishers only {r.rss_idle:.1f} MB, with {r.viewers} viewers"
        f" {r.rss_busy:.1f} MB -> {(r.rss_busy - r.rss_idle) / r.viewers:.2f} MB per viewer"
    )
    print(
        f"  gateway CPU per viewer: {1000 * r.cpu_per_viewer():.2f} millicores"
        f" ({1000 * r.cpu_per_viewer(marginal=True):.2f} above publishers-only);"
        f" {r.viewer_fps:.1f} fps per viewer"
    )


def print_stalls(r: Result, threshold_ms: float = 80.0) -> None:
    """Seconds of the window in which a packet took over `threshold_ms` via the gateway,
    next to the load generator's own loop lag then (a stall in both processes at once
    is the machine's) and the gateway's GC pauses then (with --gc-probe)."""
    timeline = r.report.get("timeline") or []
    gc_pauses = gc_log(r)
    slow = [(i, s) for i, s in enumerate(timeline) if s["gateway_max_ms"] > threshold_ms]
    worst = max((s["gateway_max_ms"] for s in timeline), default=0.0)
    print(
        f"  seconds with a packet over {threshold_ms:.0f} ms via the gateway: {len(slow)}"
        f" of {len(timeline)} (worst {worst:.0f} ms)"
    )
    for i, s in slow[:12]:
        line = (
            f"    t={i:3d} s: gateway path {s['gateway_max_ms']:6.1f} ms,"
            f" direct {s['direct_max_ms']:5.1f} ms,"
            f" load generator lag {s['loadgen_lag_ms']:6.1f} ms"
        )
        if gc_pauses is not None:
            t0 = r.window[0] + i
            near = [p for t, g, p in gc_pauses if t0 - 0.5 <= t <= t0 + 1.5]
            line += f", gateway GC {max(near):.0f} ms" if near else ", no gateway GC pause"
        print(line)
    if gc_pauses is not None:
        gen2 = [p for t, g, p in gc_pauses if g == 2 and r.window[0] <= t <= r.window[1]]
        print(
            f"  gateway GC (gcprobe) in the window: {len(gen2)} full collections"
            + (f", longest {max(gen2):.0f} ms, total {sum(gen2):.0f} ms" if gen2 else "")
        )


def gc_log(r: Result) -> list[tuple[float, int, float]] | None:
    if r.log is None or not r.log.exists():
        return None
    out = []
    for line in r.log.read_text(errors="replace").splitlines():
        m = re.match(r"gcprobe (\S+) gen(\d) (\S+)", line)
        if m:
            out.append((float(m.group(1)), int(m.group(2)), float(m.group(3))))
    return out


def print_ab(a: Result, b: Result, src: Path) -> None:
    def lat(r: Result, key: str, q: str) -> float:
        x, d = r.report.get(key), (r.report.get("p2p") or {}).get(key)
        return float(x[q] - d[q]) if x and d else float("nan")

    print(f"\n== A/B in this run: installed gateway (A) vs {src} (B) ==")
    print(
        f"  forwarded packets per gateway-core-second: A {pps_per_core(a):,.0f},"
        f" B {pps_per_core(b):,.0f} (B/A {pps_per_core(b) / pps_per_core(a):.2f}x)"
    )
    print(
        f"  gateway CPU with viewers: A {a.cpu:.3f}, B {b.cpu:.3f} cores;"
        f" publishers only: A {a.cpu_idle:.3f}, B {b.cpu_idle:.3f}"
    )
    print(
        f"  gateway wakeups/s with viewers: A {a.busy.get('gateway_wakeups', 0):,.0f},"
        f" B {b.busy.get('gateway_wakeups', 0):,.0f}; publishers only:"
        f" A {a.idle.get('gateway_wakeups', 0):,.0f}, B {b.idle.get('gateway_wakeups', 0):,.0f}"
    )
    for label, key in (
        ("all", "latency"),
        ("keyframe", "latency_keyframe"),
        ("delta-frame", "latency_delta"),
    ):
        print(
            f"  added latency, {label} packets: p50 A {lat(a, key, 'p50'):.2f} B"
            f" {lat(b, key, 'p50'):.2f} ms; p99 A {lat(a, key, 'p99'):.2f}"
            f" B {lat(b, key, 'p99'):.2f} ms"
        )
    print(f"  viewer loss: A {a.loss_pct:.4f} %, B {b.loss_pct:.4f} %")


def print_baseline(r: Result) -> None:
    wall = r.busy["wall"]
    print(
        "\n== aiortc MediaRelay baseline: decode once, re-encode per viewer,"
        f" {r.viewers} viewers =="
    )
    print(f"  load average before/after the window: {r.load_before} / {r.load_after}")
    print(
        f"  machine CPU in the window: {r.busy['machine']:.2f} cores"
        f" (relay {r.cpu:.2f}, load generator {r.busy['loadgen']:.2f})"
    )
    print(
        f"  relay CPU: publishers only {r.cpu_idle:.3f} cores (decoding);"
        f" with {r.viewers} viewers {r.cpu:.3f} cores ({wall:.0f} s)"
    )
    frames = r.total("video", "frames")
    print(
        f"  delivered: {frames:,} video frames ({r.viewer_fps:.1f} fps per viewer of 30),"
        f" {r.packets:,} RTP packets ({r.packets / wall:,.0f}/s), loss {r.loss_pct:.3f} %"
    )
    print(
        f"  relay CPU per viewer: {1000 * r.cpu_per_viewer():.0f} millicores;"
        f" per full-rate (30 fps) viewer {1000 * r.cpu_per_viewer(full_rate=30):.0f};"
        f" above publishers-only {1000 * r.cpu_per_viewer(marginal=True, full_rate=30):.0f}"
    )
    print(
        f"  relay RSS: {r.rss_idle:.1f} MB -> {r.rss_busy:.1f} MB"
        f" ({(r.rss_busy - r.rss_idle) / r.viewers:.1f} MB per viewer)"
    )


def print_comparison(gw: Result, mr: Result) -> None:
    total = mr.cpu_per_viewer(full_rate=30) / gw.cpu_per_viewer()
    marginal = mr.cpu_per_viewer(marginal=True, full_rate=30) / gw.cpu_per_viewer(marginal=True)
    print("\n== gateway CPU per viewer vs MediaRelay (per full-rate viewer) ==")
    print(
        f"  {total:.0f}x less CPU per viewer"
        f" ({1000 * gw.cpu_per_viewer():.2f} vs {1000 * mr.cpu_per_viewer(full_rate=30):.0f}"
        f" millicores)   [target >= {TARGET_CPU_RATIO:.0f}x: {_ok(total >= TARGET_CPU_RATIO)}]"
    )
    print(
        f"  {marginal:.0f}x less counting only CPU above publishers-only"
        f" ({1000 * gw.cpu_per_viewer(marginal=True):.2f}"
        f" vs {1000 * mr.cpu_per_viewer(marginal=True, full_rate=30):.0f} millicores)"
    )


def added_latency_p50(r: Result) -> float:
    lat, direct = r.report.get("latency"), (r.report.get("p2p") or {}).get("latency")
    return float(lat["p50"] - direct["p50"]) if lat and direct else float("nan")


@dataclass
class Size:
    viewers: int
    full: bool

    @property
    def label(self) -> str:
        kind = "full aiortc" if self.full else "lightweight"
        return f"{self.viewers} {kind} viewers"


def parse_sizes(text: str) -> list[Size]:
    """ "4full,16,32": 4 full aiortc viewers, then 16 and 32 lightweight ones."""
    sizes = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(full)?\s*", part)
        if m is None:
            raise argparse.ArgumentTypeError(f"not a viewer count: {part!r} (e.g. 4full,16,32)")
        sizes.append(Size(int(m[1]), bool(m[2])))
    return sizes


def run_table(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Per viewer count: Janus (if installed), vdispatch with recording off and on, in
    this order, one after the other in this run."""
    with_janus = "janus" in args.against and janus.janus_executable() is not None
    rows: list[tuple[Size, str, Result]] = []
    for size in args.sizes:
        print(f"\n--- {size.label} per publisher ---", flush=True)
        run = copy.copy(args)
        run.viewers, run.full = size.viewers, size.full
        if with_janus:
            rows.append((size, "Janus", run_janus(run, workdir, f"janus-{len(rows)}")))
        for record in (False, True):
            run.record = record
            label = f"vdispatch, recording {'on' if record else 'off'}"
            rows.append((size, label, run_vdispatch(run, workdir, name=f"vdispatch-{len(rows)}")))
    print_table(rows, args)
    return {f"{size.label} / {label}": vars(r) for size, label, r in rows}


def print_table(rows: list[tuple[Size, str, Result]], args: argparse.Namespace) -> None:
    print(
        f"\n== {args.publishers} publisher(s); gateway CPU only (psutil of its process),"
        f" {args.seconds:.0f} s windows; load generator CPU and machine load for context =="
    )
    head = (
        f"{'viewers':<24} {'gateway':<26} {'idle cores':>10} {'gw cores':>8} {'pkts/core-s':>11}"
        f" {'loss %':>7} {'worst %':>7} {'gw drops':>8} {'+p50 ms':>7} {'MB/viewer':>9}"
        f" {'loadgen':>7}"
    )
    print(head + "\n" + "-" * len(head))
    for size, label, r in rows:
        print(
            f"{size.label:<24} {label:<26} {r.cpu_idle:>10.3f} {r.cpu:>8.3f}"
            f" {pps_per_core(r):>11,.0f}"
            f" {r.loss_pct:>7.3f} {r.worst_viewer_loss_pct:>7.3f} {r.gateway_socket_drops:>8}"
            f" {added_latency_p50(r):>7.2f}"
            f" {(r.rss_busy - r.rss_idle) / r.viewers:>9.2f} {r.busy['loadgen']:>7.2f}"
        )
    print(
        "(idle cores: the gateway with its publisher(s) and no viewer, the fixed per-stream"
        " cost; gw drops: datagrams the kernel dropped on the gateway's own sockets, receive buffer"
        " full; +p50: gateway-added latency against the direct pair; loadgen: its cores)"
    )
    sizes = list(dict.fromkeys(size.label for size, _, _ in rows))
    base = {size.label: r for size, label, r in rows if label == "Janus"}
    if not base:
        return
    print("\nratios vdispatch / Janus, forwarded packets per gateway core-second:")
    for size_label in sizes:
        janus_pps = pps_per_core(base[size_label])
        ratios = [
            f"{label.removeprefix('vdispatch, ')} {pps_per_core(r) / janus_pps:.2f}x"
            for size, label, r in rows
            if size.label == size_label and label != "Janus"
        ]
        print(f"  {size_label:<24} " + ", ".join(ratios))


def print_profile(path: Path) -> None:
    from profile_summary import summarise

    print(f"\n== py-spy profile of the gateway: {path} ==")
    print(summarise(path, top=25))


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--publishers", type=int, default=1)
    p.add_argument("--viewers", type=int, default=16, help="viewers per publisher")
    p.add_argument("--seconds", type=float, default=60.0, help="steady-state window")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--idle-seconds", type=float, help="publishers-only window (default 10)")
    p.add_argument(
        "--baseline-viewers",
        type=int,
        help="viewers on the MediaRelay baseline (default min(viewers, 2): it re-encodes"
        " 720p per viewer and saturates this machine beyond that)",
    )
    p.add_argument("--baseline-seconds", type=float, help="default: --seconds")
    p.add_argument("--no-baseline", action="store_true", help="skip the MediaRelay baseline")
    p.add_argument("--against", choices=["mediarelay", "janus"], action="append", default=[])
    p.add_argument(
        "--sizes",
        type=parse_sizes,
        help="a comparison table instead: per viewer count (e.g. 4full,16,32; 'full' for"
        " full aiortc viewers) vdispatch with recording off and on, and Janus with"
        " --against janus",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="full aiortc viewers (jitter buffer, NACK, PLI, REMB, decoding) instead of"
        " lightweight ones that count RTP at the socket",
    )
    p.add_argument(
        "--pace-mbps",
        type=float,
        default=0.0,
        help="publishers pace video at this rate, as a browser does (default: aiortc's"
        " way, each frame's packets at once)",
    )
    p.add_argument("--quick", action="store_true", help="1 publisher, 4 viewers, 8 s")
    p.add_argument("--record", action="store_true", help="leave the gateway's recorder on")
    p.add_argument("--profile", type=Path, help="py-spy the gateway after the window, to DIR")
    p.add_argument("--profile-seconds", type=float, default=30.0)
    p.add_argument("--profile-native", action="store_true", help="py-spy --native")
    p.add_argument(
        "--profile-idle",
        action="store_true",
        help="with --profile: also py-spy the gateway with its publishers and no viewer",
    )
    p.add_argument(
        "--gc-probe",
        action="store_true",
        help="diagnosis: run the gateway through bench/gcprobe.py to time its GC pauses",
    )
    p.add_argument(
        "--ab",
        type=Path,
        metavar="SRC",
        help="also run a gateway from source tree SRC (e.g. a patched checkout) in the"
        " same run and compare",
    )
    p.add_argument("--json", type=Path, help="also write the figures as JSON")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = p.parse_args(argv)
    if args.quick:
        args.publishers, args.viewers, args.seconds, args.warmup = 1, 4, 8.0, 2.0
        args.idle_seconds = args.idle_seconds or 3.0
        args.baseline_viewers = args.baseline_viewers or 1
    args.idle_seconds = args.idle_seconds or 10.0
    args.baseline_viewers = args.baseline_viewers or min(args.viewers, 2)
    args.baseline_seconds = args.baseline_seconds or args.seconds
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    workload = load_or_build()
    viewers = (
        " / ".join(size.label for size in args.sizes)
        if args.sizes
        else f"{args.viewers} {'full aiortc' if args.full else 'lightweight'} viewers"
    )
    print(
        f"relay benchmark: {args.publishers} publisher(s) x {viewers},"
        f" {args.seconds:.0f} s steady state after {args.warmup:.0f} s warm-up;"
        f" {psutil.cpu_count()} cores, load average {load_average()}"
    )
    print(f"workload: {workload.describe()}")
    print(f"gateway source: {source_revision()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="vdispatch-bench-"))
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    if "janus" in args.against and janus.janus_executable() is None:
        print("Janus: skipped (Debian's janus package is not installed: apt-get install janus)")
        args.against.remove("janus")
    try:
        if args.sizes:
            results["table"] = run_table(args, workdir)
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, default=str))
            print(f"\n(benchmark took {time.monotonic() - started:.0f} s)")
            return 0
        gw = run_vdispatch(args, workdir)
        results["vdispatch"] = vars(gw) | {"profile": str(gw.profile)}
        gw_b = None
        if args.ab:
            gw_b = run_vdispatch(args, workdir, src=args.ab.resolve(), name="vdispatch-b")
            results["vdispatch_b"] = vars(gw_b) | {"profile": str(gw_b.profile)}
        jn = None
        if "janus" in args.against:
            jn = run_janus(args, workdir)
            results["janus"] = vars(jn)
        mr = None
        if not args.no_baseline:
            mr = run_mediarelay(args, workdir)
            results["mediarelay"] = vars(mr) | {"profile": None}
        print_gateway(gw, args)
        if gw_b is not None and args.ab:
            print_gateway(gw_b, args, label=f"vdispatch from {args.ab}")
            print_ab(gw, gw_b, args.ab)
        if mr is not None:
            print_baseline(mr)
            print_comparison(gw, mr)
        if jn is not None:
            print_gateway(jn, args, label="Janus VideoRoom")
            print(
                "\n== vdispatch / Janus, forwarded packets per gateway core-second:"
                f" {pps_per_core(gw) / pps_per_core(jn):.2f}x"
                f" ({pps_per_core(gw):,.0f} vs {pps_per_core(jn):,.0f};"
                f" recording {'on' if args.record else 'off'}) =="
            )
        print(
            f"\ntargets: >= {TARGET_PPS_PER_CORE:,} forwarded packets per gateway-core-second"
            " (Janus 1.1.2 VideoRoom: 20-25k on this machine class);"
            f" >= {TARGET_CPU_RATIO:.0f}x less CPU per viewer than MediaRelay;"
            f" 0 loss through keyframe bursts; added latency p50 < {TARGET_LATENCY_P50_MS:.0f} ms"
        )
        if gw.profile_idle is not None:
            print_profile(gw.profile_idle)
        if gw.profile is not None:
            print_profile(gw.profile)
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=str))
        print(f"\n(benchmark took {time.monotonic() - started:.0f} s)")
    finally:
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
