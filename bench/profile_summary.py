"""Summarise a py-spy `--format raw` (folded stacks) profile of the gateway.

    .venv/bin/python bench/profile_summary.py /tmp/prof/vdispatch-16v.folded

Prints where the gateway's CPU goes along the forwarding path (each sample attributed
to the innermost stage it is in), then the hottest functions (self and inclusive) and
source lines. py-spy records only threads that are running, so shares are of CPU time.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# Stages of the forwarding path. Each sample goes to the innermost frame that matches a
# specific stage; only samples with none go to the generic asyncio stages.
STAGES: list[tuple[str, str]] = [
    ("egress: SenderOutput.send_rtp", r"^SenderOutput\.send_rtp "),
    ("egress: RTP header write + concat (Consumer._emit)", r"^(Consumer\._emit|write_header) "),
    ("egress: Consumer.send (start/seq checks)", r"^Consumer\.send "),
    (
        "fan-out: Producer.receive (seq map, cache, stats, sink loop)",
        r"^(Producer\.receive|SeqMapper|PacketCache|RelayPacket|KeyframeRequester"
        r"|is_keyframe_start|vp8_|seq_diff)",
    ),
    ("ingress: PublisherPeer on_packet closure", r"^_add_producer\.<locals>\.on_packet "),
    (
        "ingress: IngestTap (RR stats, REMB estimator, NACK generator)",
        r"^(IngestTap\._handle_rtp|StreamStatistics|NackGenerator)|aiortc/rate\.py",
    ),
    ("ingress: RTP parse (aiortc RtpPacket.parse)", r"aiortc/rtp\.py"),
    (
        "RTCP in/out (aiortc RTCP loops, SRTCP, SR refresh)",
        r"(_run_rtcp|_handle_rtcp|_send_rtcp|refresh_sender_report|rtp_time_at|ntp_now"
        r"|_recv_next \(aiortc/rtcdtlstransport\.py:67[12]\))",
    ),
    (
        "ingress: SRTP unprotect + demux (RTCDtlsTransport._recv_next)",
        r"^(RTCDtlsTransport\.(_recv_next|_handle_rtp_data|__run)|RtpRouter)",
    ),
    ("ingress: aioice receive (datagram_received, queue, _recv)", r"aioice/"),
    ("signalling / HTTP (aiohttp)", r"\(aiohttp/(?!web\.py:)"),
]
GENERIC: list[tuple[str, str]] = [
    ("asyncio: datagram read (recvfrom)", r"^_SelectorDatagramTransport\._read_ready "),
    ("asyncio: queue/future/task machinery", r"asyncio/(queues|futures|tasks|locks)\.py"),
    ("asyncio: event loop (select, scheduling)", r"asyncio/|selectors\.py"),
]
# Leaf frames of a thread that is blocked, not running (py-spy's idle detection does
# not work in every sandbox): such samples are left out.
IDLE = re.compile(
    r"^(Condition\.wait \(threading\.py|EpollSelector\.select \(selectors\.py:468"
    r"|Thread\._wait_for_tstate_lock|Event\.wait \(threading|_worker \(concurrent)"
)
# Within these stages, name the leaf: SRTP, the socket call, or the stage's own Python.
LEAF_DETAIL: list[tuple[str, str]] = [
    ("SRTP (pylibsrtp)", r"pylibsrtp/"),
    ("socket sendto", r"^_SelectorDatagramTransport\.sendto "),
]
_STAGE_RE = [(name, re.compile(p)) for name, p in STAGES]
_GENERIC_RE = [(name, re.compile(p)) for name, p in GENERIC]
_LEAF_RE = [(name, re.compile(p)) for name, p in LEAF_DETAIL]
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def _parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for raw in path.read_text().splitlines():
        stack, _, count = raw.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks


def _func(frame: str) -> str:
    m = _FRAME.match(frame)
    return f"{m['func']} ({m['file']})" if m else frame


def _stage(frames: list[str]) -> str:
    for rules in (_STAGE_RE, _GENERIC_RE):
        for frame in reversed(frames):
            for name, rx in rules:
                if rx.search(frame):
                    if rules is _STAGE_RE:
                        for detail, leaf_rx in _LEAF_RE:
                            if leaf_rx.search(frames[-1]):
                                return f"{name} -> {detail}"
                    return name
    return "other"


def _source_line(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return ""
    for base in sys.path:
        p = Path(base) / m["file"]
        if p.is_file():
            lines = p.read_text().splitlines()
            n = int(m["line"])
            if 0 < n <= len(lines):
                return lines[n - 1].strip()[:70]
    return ""


def summarise(path: Path, top: int = 20) -> str:
    stacks = _parse(path)
    idle = sum(c for f, c in stacks if IDLE.search(f[-1]))
    stacks = [(f, c) for f, c in stacks if not IDLE.search(f[-1])]
    total = sum(c for _, c in stacks)
    if not total:
        return "no samples"
    stages: Counter[str] = Counter()
    self_func: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for frames, count in stacks:
        stages[_stage(frames)] += count
        self_func[_func(frames[-1])] += count
        self_line[frames[-1]] += count
        for f in {_func(f) for f in frames}:
            incl[f] += count

    def pct(n: int) -> str:
        return f"{100.0 * n / total:5.1f} %"

    out = [f"{total} running samples ({idle} samples of blocked threads left out)", ""]
    out.append("where the CPU goes, by stage (innermost stage of each sample):")
    out += [f"  {pct(n)}  {name}" for name, n in stages.most_common()]
    out += ["", f"top {top} functions by self time:"]
    out += [f"  {pct(n)}  {name}" for name, n in self_func.most_common(top)]
    out += ["", f"top {top} source lines by self time:"]
    for frame, n in self_line.most_common(top):
        src = _source_line(frame)
        out.append(f"  {pct(n)}  {frame}" + (f"\n             | {src}" if src else ""))
    out += ["", f"top {top} functions by inclusive time:"]
    out += [f"  {pct(n)}  {name}" for name, n in incl.most_common(top)]
    return "\n".join(out)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarise(Path(arg)))
