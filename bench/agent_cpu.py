"""Agent CPU per camera: a 1080p30 H.264 RTSP camera passed through, against baselines.

One run, three processes measured the same way (psutil: user+system CPU of the process
and its threads over the same window, once media flows):

- agent/rtsp: `vdispatch agent --config` with one RTSP camera (gst-rtsp-server serving
  x264 1080p30, tests/interop/rtsp_server.py), publishing to a local node;
- ffmpeg -c copy: FFmpeg reading the same RTSP stream and discarding it (the floor for
  demuxing alone);
- agent/testsrc self-encoded: the same agent with a `testsrc` camera (720p30, drawn and
  encoded to H.264 in the camera's thread, then published and spooled like the RTSP
  camera): stands in for a V4L2 720p camera, which needs a device (its MJPEG/YUYV decode
  is not counted);
- agent/testsrc aiortc-encoded: the old path, `vdispatch agent --source testsrc` (the
  same pattern handed to aiortc as pictures, aiortc's encoders per publication), in the
  same run, for the ratio.

Each is printed as user + system CPU; on loopback the system part includes the kernel's
delivery of every RTP packet into the node's socket (charged to the sender).

The node (recording off) and the RTSP server are separate processes, not counted.
Needs /usr/bin/python3 with gi and gst-rtsp-server (make system-deps).
Run: .venv/bin/python bench/agent_cpu.py [--seconds 30] [--size 1920x1080]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SERVER = ROOT / "tests" / "interop" / "rtsp_server.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def status(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=2) as r:
        return json.load(r)["cameras"][0]


def wait_published(node: str, stream: str, token: str, timeout: float = 30.0) -> None:
    """Until the node lists `stream` as live (a viewer token for "*" may list)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            f"{node}/api/streams", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=2) as r:
            if stream in json.dumps(json.load(r)):
                return
        time.sleep(0.3)
    raise SystemExit(f"{stream} was not published")


def measure(pid: int, seconds: float) -> tuple[float, float]:
    """(user, system) percent of one core over `seconds`. System time includes, on
    loopback, the kernel delivering each UDP packet into the node's socket: over a NIC
    the sender pays less of it."""
    proc = psutil.Process(pid)
    c0, t0 = proc.cpu_times(), time.monotonic()
    time.sleep(seconds)
    c1, took = proc.cpu_times(), time.monotonic() - t0
    return 100 * (c1.user - c0.user) / took, 100 * (c1.system - c0.system) / took


def run_agent(
    env: dict[str, str], tmp: Path, node: str, token: str, source: str, name: str
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (tmp / f"{name}.token").write_text(token)
    config = tmp / f"{name}.toml"
    config.write_text(
        f'station = "bench"\ngateways = ["{node}"]\ntoken_file = "{name}.token"\n'
        f'status_port = {port}\n[[cameras]]\nid = "{name}"\nrole = "room"\n'
        f'source = "{source}"\n'
    )
    agent = subprocess.Popen(
        [PY, "-m", "vdispatch", "agent", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(f"http://127.0.0.1:{port}/status.json")
    deadline = time.monotonic() + 30
    while not status(port)["publishing"]:
        if time.monotonic() > deadline:
            raise SystemExit(f"agent {name} did not publish: {status(port)}")
        time.sleep(0.3)
    time.sleep(2)  # past the connection's start
    return agent, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--bitrate", type=int, default=4000, help="camera kbit/s")
    parser.add_argument("--pattern", default="snow", help="videotestsrc pattern (snow: busy)")
    parser.add_argument("--no-audio", action="store_true", help="a camera without audio")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    node_port, rtsp_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VDISPATCH_DATA_DIR": str(tmp / "var"),
        "VDISPATCH_ICE_ADDRESSES": "127.0.0.1",
        "VDISPATCH_RECORDER__ENABLED": "false",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        camera = subprocess.Popen(
            [
                *("/usr/bin/python3", str(SERVER), str(rtsp_port), "--size", args.size),
                *("--fps", "30", "--bitrate", str(args.bitrate), "--pattern", args.pattern),
                *(["--no-audio"] if args.no_audio else []),
            ],
            stdout=subprocess.PIPE,
        )
        procs.append(camera)
        assert camera.stdout is not None and camera.stdout.readline().strip() == b"ready"
        url = f"rtsp://127.0.0.1:{rtsp_port}/cam"
        node = subprocess.Popen(
            [PY, "-m", "vdispatch", "serve", "--host", "127.0.0.1", "--port", str(node_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(node)
        node_url = f"http://127.0.0.1:{node_port}"
        wait_http(f"{node_url}/healthz")

        def token(stream: str, role: str = "station") -> str:
            out = subprocess.run(
                [PY, "-m", "vdispatch", "token", "--role", role, "--stream", stream],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            return out.stdout.strip()

        results: dict[str, tuple[float, float]] = {}
        agent, port = run_agent(env, tmp, node_url, token("bench-rtsp"), url, "rtsp")
        procs.append(agent)
        results["agent/rtsp (1080p30 passthrough)"] = measure(agent.pid, args.seconds)
        st = status(port)
        frames, drops, bitrate = st["frames"], st["drops"], st["bitrate"]
        agent.terminate()
        agent.wait(15)

        ffmpeg = subprocess.Popen(
            [
                *("ffmpeg", "-nostdin", "-loglevel", "fatal", "-rtsp_transport", "tcp"),
                *("-i", url, "-map", "0", "-c", "copy", "-f", "null", "-"),
            ],
        )
        procs.append(ffmpeg)
        time.sleep(3)
        results["ffmpeg -c copy (same RTSP)"] = measure(ffmpeg.pid, args.seconds)
        ffmpeg.terminate()
        ffmpeg.wait(15)

        agent, port = run_agent(env, tmp, node_url, token("bench-testsrc"), "testsrc", "testsrc")
        procs.append(agent)
        own = results["agent/testsrc (720p30 self-encoded)"] = measure(agent.pid, args.seconds)
        st = status(port)
        encoded = (st["frames"], st["drops"], st["bitrate"])
        agent.terminate()
        agent.wait(15)

        agent = subprocess.Popen(
            [
                *(PY, "-m", "vdispatch", "agent", "--gateway", node_url, "--stream"),
                *("bench-aiortc", "--token", token("bench-aiortc"), "--source", "testsrc"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(agent)
        wait_published(node_url, "bench-aiortc", token("*", "viewer"))
        time.sleep(2)  # past the connection's start
        old = results["agent/testsrc (720p30 aiortc-encoded)"] = measure(agent.pid, args.seconds)
        agent.terminate()
        agent.wait(15)

        audio = "" if args.no_audio else " + AAC"
        print(f"camera {args.size}@30 H.264 {args.bitrate} kbit/s{audio}; {args.seconds:g} s each")
        print(f"  passthrough: {frames} frames, {drops} drops, {bitrate / 1e6:.2f} Mbit/s")
        for what, (user, system) in results.items():
            print(
                f"  {what:34s} {user + system:6.1f} % of one core"
                f" (user {user:.1f}, system {system:.1f})"
            )
        print(
            f"  self-encoded: {encoded[0]} frames, {encoded[1]} drops,"
            f" {encoded[2] / 1e6:.2f} Mbit/s; CPU self-encoded / aiortc-encoded:"
            f" {sum(own) / sum(old):.2f}"
        )
        print(f"  target: agent/rtsp < 5 % of one core ({os.cpu_count()} cores here, shared)")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
