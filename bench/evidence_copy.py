"""Evidence copy benchmark: render speed and memory of a long 720p session, on one core.

Synthesizes a session in the recorder's own format (segments written by the recorder's
SegmentFile, hashed, chained, manifest signed): the room at 1280x720 VP8 + Opus, the
prosecutor at 640x480 VP8 + Opus with a 20 s disconnect at 40 %. A short loop is encoded
once and its packets repeated with new timestamps, so making ten minutes takes seconds.

Then, each in a child process pinned to CPU 0 (the synthesis does not count):
- render_copy at 1280x720, 25 fps: wall time, x real time, peak RSS (ru_maxrss), and RSS
  sampled as progress passes 10 %, 20 % … 100 % (flat = memory does not grow with length);
- the baseline: the ffmpeg CLI doing the equivalent composition on the same segments
  (scale + overlay + drawtext of the clock and caption, amix, libx264 and aac with the
  same settings), one thread everywhere; the ratio of the two times.

Run: .venv/bin/python bench/evidence_copy.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import fractions
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recorder import CopyGap, CopyPlan, NodeKey, chain, render_copy
from recorder import manifest as mf
from recorder.evidence_copy import X264_CRF, X264_PARAMS, X264_PRESET, fonts
from recorder.segment import SegmentFile, TrackSpec
from recorder.writer import iso

FPS_IN = 30
LOOP_SECONDS = 2  # a GOP of 30 frames: the loop starts on a keyframe every time
SEGMENT_SECONDS = 10


def encode_loop(width: int, height: int, bitrate: int, seed: int) -> list[tuple[bytes, bool]]:
    """LOOP_SECONDS of VP8 (a moving pattern with some noise, so the encoders have work)."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.time_base = fractions.Fraction(1, FPS_IN)
    codec.gop_size = 30
    codec.bit_rate = bitrate
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    rng = np.random.default_rng(seed)
    y = np.arange(height)[:, None]
    x = np.arange(width)[None, :]
    out: list[tuple[bytes, bool]] = []
    for i in range(LOOP_SECONDS * FPS_IN):
        img = np.empty((height, width, 3), dtype=np.uint8)
        img[..., 0] = (x // 3 + 4 * i + seed * 50) % 256
        img[..., 1] = (y // 2 + 2 * i) % 256
        img[..., 2] = ((x ^ y) // 4 + i) % 256
        img += rng.integers(0, 12, size=img.shape, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        out += [(bytes(p), p.is_keyframe) for p in codec.encode(frame)]
    out += [(bytes(p), p.is_keyframe) for p in codec.encode(None)]
    return out


def encode_tone(hz: float) -> list[bytes]:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48000, "stereo", "s16"
    codec.bit_rate = 48000
    codec.time_base = fractions.Fraction(1, 48000)
    packets: list[bytes] = []
    for i in range(LOOP_SECONDS * 50):
        t = (np.arange(960) + i * 960) / 48000
        wave = (np.sin(2 * np.pi * hz * t) * 0.3 * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(wave[None, :], 2, axis=0).reshape(1, -1, order="F"),
            format="s16",
            layout="stereo",
        )
        frame.sample_rate, frame.pts = 48000, i * 960
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets


def synthesize(
    directory: Path,
    stream: str,
    size: tuple[int, int],
    bitrate: int,
    hz: float,
    start: float,
    seconds: float,
    gap: tuple[float, float] | None,
    key: NodeKey,
    seed: int,
) -> None:
    """A closed recording in the recorder's layout, `gap` (from, to) seconds left out."""
    video, audio = encode_loop(*size, bitrate, seed), encode_tone(hz)
    directory.mkdir(parents=True)
    manifest = mf.Manifest(
        recording_id=directory.name,
        stream=stream,
        station="bench",
        node_id="bench",
        container="webm",
        codecs={"video": "VP8", "audio": "OPUS"},
        started_at=iso(start),
        state="closed",
        end_reason="node stopped",
    )
    tracks = [TrackSpec("video", "video/vp8", *size), TrackSpec("audio", "audio/opus")]
    spans = [(0.0, seconds)] if gap is None else [(0.0, gap[0]), (gap[1], seconds)]
    if gap is not None:
        manifest.continuity.append(
            mf.ContinuityEntry(
                iso(start + gap[0]), iso(start + gap[1]), "publisher-disconnect", "bench"
            )
        )
    index = 0
    for begin, end in spans:
        t = begin
        while t < end - 1e-6:
            stop = min(end, t + SEGMENT_SECONDS)
            index += 1
            seg = SegmentFile(directory, index, "webm", tracks)
            base = start + t
            n_video = round((stop - t) * FPS_IN)
            n_audio = round((stop - t) * 50)
            events = [(i / FPS_IN, "video", i) for i in range(n_video)]
            events += [(i / 50, "audio", i) for i in range(n_audio)]
            events.sort()
            for rel, kind, i in events:
                if kind == "video":
                    data, keyframe = video[i % len(video)]
                else:
                    data, keyframe = audio[i % len(audio)], True
                seg.write(kind, data, base + rel, base, keyframe)
            path = seg.finish()
            digest = chain.sha256_file(path)
            link = chain.link(manifest.last_chain, digest)
            manifest.segments.append(
                mf.SegmentEntry(
                    index=index,
                    file=path.name,
                    start=iso(base),
                    end=iso(start + stop),
                    duration=round(stop - t, 3),
                    bytes=path.stat().st_size,
                    sha256=digest.hex(),
                    chain=link.hex(),
                )
            )
            t = stop
    manifest.ended_at = iso(start + seconds)
    mf.save(directory, manifest, key)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def render_child(plan: CopyPlan, out: Path, queue: Any) -> None:
    os.sched_setaffinity(0, {0})
    samples: list[tuple[float, int]] = []
    marks = iter([i / 10 for i in range(1, 11)])
    mark = next(marks)

    def progress(fraction: float) -> None:
        nonlocal mark
        while mark is not None and fraction >= mark - 1e-9:
            samples.append((mark, rss_kib()))
            mark = next(marks, None)

    cpu0 = time.process_time()
    t0 = time.monotonic()
    result = render_copy(plan, out, progress)
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((wall, cpu, peak, samples, result.bytes, result.frames, result.duration))


def ffmpeg_baseline(plan: CopyPlan, tmp: Path) -> tuple[float, float, int]:
    """The ffmpeg CLI composing the same segments (concat demuxer per picture), one core,
    one thread. Returns (wall seconds, CPU seconds of the child, bytes written)."""
    lists = []
    for name, dirs in (("main", plan.main), ("pip", plan.pip)):
        listing = tmp / f"{name}.txt"
        lines = [
            f"file '{d / s.file}'" for d in dirs for s in mf.load(d).segments
        ]  # the gap collapses here (ffmpeg has no wall clock to keep it by): the PiP
        # ends 20 s early and the main picture goes on alone, a little less work
        listing.write_text("\n".join(lines) + "\n")
        lists.append(listing)
    latin = fonts()[0] or fonts()[1] or ""
    start = int(plan.start.timestamp()) + 8 * 3600  # Beijing time, as the copy shows it
    w, h = plan.width, plan.height
    pw, ph = w // 4, h // 4
    graph = (
        f"[1:v]scale={pw}:{ph}[p];[0:v]fps={plan.fps}[m];"
        f"[m][p]overlay=W-w-20:H-h-20:eof_action=pass,"
        f"drawbox=x=0:y=0:w=iw:h=40:color=black:t=fill,"
        f"drawtext=fontfile={latin}:fontsize=28:fontcolor=white:x=12:y=6:"
        f"text='%{{pts\\:gmtime\\:{start}}} UTC+8',"
        f"drawtext=fontfile={latin}:fontsize=28:fontcolor=white:x=w-tw-12:y=6:"
        f"text='Case 2026-7'[v];"
        f"[0:a][1:a]amix=inputs=2:normalize=0[a]"
    )
    out = tmp / "baseline.mp4"
    cmd = [
        "ffmpeg", "-v", "error", "-y", "-threads", "1",
        "-f", "concat", "-safe", "0", "-threads", "1", "-i", str(lists[0]),
        "-f", "concat", "-safe", "0", "-threads", "1", "-i", str(lists[1]),
        "-filter_threads", "1", "-filter_complex_threads", "1",
        "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", X264_PRESET, "-crf", X264_CRF, "-threads", "1",
        "-x264-params", f"{X264_PARAMS}:threads=1:lookahead-threads=1",
        "-pix_fmt", "yuv420p", "-r", str(plan.fps),
        "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart",
        "-t", str((plan.end - plan.start).total_seconds()), str(out),
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    seconds = args.minutes * 60
    tmp = Path(tempfile.mkdtemp(prefix="copy-bench-"))
    try:
        key = NodeKey.load_or_create(tmp / "node.pem")
        start = float(int(time.time()) - 3 * 3600)
        gap = (seconds * 0.4, seconds * 0.4 + 20)
        t0 = time.monotonic()
        room, city = tmp / "room", tmp / "room-city"
        synthesize(room, "room", (1280, 720), 2_500_000, 440, start, seconds, None, key, 1)
        synthesize(city, "room-city", (640, 480), 800_000, 1000, start, seconds, gap, key, 2)
        made = time.monotonic() - t0
        size = sum(f.stat().st_size for d in (room, city) for f in d.iterdir())
        plan = CopyPlan(
            main=[room],
            pip=[city],
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(start + seconds, UTC),
            caption="案号 甲检2026-7 · 李某讯问",
            gaps=(
                CopyGap(
                    datetime.fromtimestamp(start + gap[0], UTC),
                    datetime.fromtimestamp(start + gap[1], UTC),
                    "pip",
                    "录制中断 Interrupted · publisher-disconnect",
                ),
            ),
        )
        print(
            f"session: {seconds / 60:.1f} min, room 1280x720 VP8 2.5 Mb/s + Opus, prosecutor "
            f"640x480 VP8 0.8 Mb/s + Opus with a 20 s gap; {size / 1e6:.0f} MB of segments "
            f"synthesized in {made:.1f} s"
        )
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=render_child, args=(plan, tmp / "copy.mp4", queue))
        child.start()
        wall, cpu, peak, samples, nbytes, frames, duration = queue.get()
        child.join()
        print(
            f"render_copy  1280x720 {plan.fps} fps, x264 {X264_PRESET} crf {X264_CRF}, CPU 0 "
            f"only: {wall:.1f} s wall, {cpu:.1f} s CPU: {seconds / wall:.2f}x real time by the "
            f"clock, {seconds / cpu:.2f}x by CPU time ({frames} frames, {duration:.1f} s, "
            f"{nbytes / 1e6:.1f} MB)"
        )
        print(f"peak RSS of the render process: {peak / 1024:.0f} MiB")
        print(
            "RSS at progress: "
            + ", ".join(f"{int(f * 100)}% {kib / 1024:.0f}" for f, kib in samples)
            + " MiB"
        )
        base_wall, base_cpu, base_bytes = ffmpeg_baseline(plan, tmp)
        print(
            f"ffmpeg CLI baseline (scale+overlay+drawtext+amix, 1 thread, CPU 0 only): "
            f"{base_wall:.1f} s wall, {base_cpu:.1f} s CPU: {seconds / base_wall:.2f}x real time "
            f"by the clock, {seconds / base_cpu:.2f}x by CPU time ({base_bytes / 1e6:.1f} MB)"
        )
        # CPU time is the fair figure on a shared machine: the clock counts others' work.
        print(
            f"render_copy / ffmpeg CLI: {cpu / base_cpu:.2f} in CPU time, "
            f"{wall / base_wall:.2f} by the clock"
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
