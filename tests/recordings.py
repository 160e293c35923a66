"""Making real recordings quickly: encoded frames fed straight into the recorder."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from media_gateway.packet import RelayPacket
from recorder import Recorder, RecorderSettings, RecordingListener, TrackInfo
from recorder import manifest as mf
from recorder.feed import NTP_EPOCH_OFFSET

from .peers import encode_h264, encode_opus, encode_vp8
from .waiting import wait_for

_FRAMES: dict[tuple[int, int, str], list[bytes]] = {}


def frames(count: int, gop: int = 30, codec: str = "vp8") -> list[bytes]:
    key = (count, gop, codec)
    if key not in _FRAMES:
        encode = encode_h264 if codec == "h264" else encode_vp8
        _FRAMES[key] = encode(count, gop=gop)
    return _FRAMES[key]


def _packetize(codec: str, data: bytes, picture_id: int) -> list[bytes]:
    if codec == "h264":
        return H264Encoder._packetize(H264Encoder._split_bitstream(data))
    return Vp8Encoder()._packetize(data, picture_id)


async def make_recording(
    data_dir: Path,
    seconds: float = 9.0,
    segment_seconds: float = 2.0,
    listener: RecordingListener | None = None,
    *,
    stream: str = "cam",
    start: float | None = None,
    pause: tuple[float, float] | None = None,
    fps: int = 30,
    session: str | None = None,
    codec: str = "vp8",
    video: list[bytes] | None = None,
    tone: float | None = None,
) -> Path:
    """A closed VP8 recording (codec="h264": H.264 in MP4) of `seconds` of media, fed as
    fast as the writer takes it.

    start: its wall-clock start (Unix time; a sender report says so), else now.
    pause: (after, for) seconds: the publisher disconnects after `after` seconds of media
    and is back `for` seconds later (within the grace period: the same recording, with a
    publisher-disconnect gap in its continuity log).
    fps: frames per second of media time (a low rate makes long recordings quickly).
    video: the encoded frames to record (at least seconds * fps; else a moving pattern).
    tone: an Opus audio track too, a sine at this frequency (Hz)."""
    recorder = Recorder(
        # Media faster than real time, at a wall clock of its own: no check against arrival.
        RecorderSettings(data_dir=data_dir, segment_seconds=segment_seconds, max_clock_skew=0),
        node_id="test-node",
        listener=listener,
    )
    tracks = [TrackInfo("video", f"video/{codec}", 90000)]
    sound = encode_opus(seconds + (pause[1] if pause else 0), tone) if tone else []
    if sound:
        tracks.append(TrackInfo("audio", "audio/opus", 48000))
    wall = time.time() if start is None else start
    step = 90000 // fps
    feeds = recorder.start(stream, tracks, lambda: None, session=session)
    for feed in feeds.values():
        feed.sender_report(int((wall + NTP_EPOCH_OFFSET) * (1 << 32)), 0)
    seq = 0
    audio_seq, sent_audio, shift = 0, 0, 0.0
    cut = int(pause[0] * fps) if pause else -1
    count = int(seconds * fps)
    for i, data in enumerate(video[:count] if video is not None else frames(count, codec=codec)):
        if i == cut and pause is not None:
            await asyncio.sleep(0.3)  # let the writer catch up, as a real stream would
            recorder.stopped(stream)
            feeds = recorder.start(stream, tracks, lambda: None, session=session)
            # Back `pause[1]` seconds later: the sender report moves the wall clock on.
            shift = pause[1]
            back = wall + i / fps + shift
            feeds["video"].sender_report(
                int((back + NTP_EPOCH_OFFSET) * (1 << 32)), (i * step) & 0xFFFFFFFF
            )
            if sound:  # the audio clock runs on through the pause (its media time does)
                sent_audio = int((i / fps + shift) * 50)
                feeds["audio"].sender_report(int((wall + NTP_EPOCH_OFFSET) * (1 << 32)), 0)
        payloads = _packetize(codec, data, i & 0x7FFF)
        for j, payload in enumerate(payloads):
            marker = int(j == len(payloads) - 1)
            feeds["video"].send(
                RelayPacket(seq, (i * step) & 0xFFFFFFFF, marker, payload, False, 0.0)
            )
            seq = (seq + 1) & 0xFFFF
        # Audio up to this video frame's time, 20 ms a packet, in the same order as live.
        while sound and sent_audio < len(sound) and sent_audio / 50 <= i / fps + shift:
            ts = (sent_audio * 960) & 0xFFFFFFFF
            feeds["audio"].send(RelayPacket(audio_seq, ts, 1, sound[sent_audio], False, 0.0))
            audio_seq, sent_audio = (audio_seq + 1) & 0xFFFF, sent_audio + 1
        if i % 30 == 0:
            await asyncio.sleep(0)
        if fps < 30 and i % 10 == 0:
            await asyncio.sleep(0.01)  # long media in few frames: let the writer keep up
    directory = recorder.active[stream].directory
    await recorder.close()
    if start is not None:
        # Started then, as far as the manifest is concerned (re-signed, as the recorder would).
        manifest = mf.load(directory)
        if manifest.segments:
            manifest.started_at = manifest.segments[0].start
            manifest.ended_at = manifest.segments[-1].end
        mf.save(directory, manifest, recorder.key)
    return directory


def manifest_or_none(directory: Path) -> mf.Manifest | None:
    """The manifest on disk now (replaced atomically: never half-written), if any yet."""
    try:
        return mf.load(directory)
    except FileNotFoundError:
        return None


def the_recording(recordings_dir: Path) -> Path | None:
    """The one recording directory under `recordings_dir`, once there is one."""
    found = list(recordings_dir.iterdir()) if recordings_dir.is_dir() else []
    assert len(found) <= 1, found
    return found[0] if found else None


async def wait_for_manifest(
    recordings_dir: Path,
    until: Callable[[mf.Manifest], object],
    what: str,
    timeout: float = 15.0,
) -> tuple[Path, mf.Manifest]:
    """Wait until the one recording's manifest on disk satisfies `until`."""

    def observe() -> tuple[Path, mf.Manifest] | None:
        directory = the_recording(recordings_dir)
        manifest = manifest_or_none(directory) if directory else None
        return (directory, manifest) if directory and manifest else None

    def holds(found: tuple[Path, mf.Manifest] | None) -> bool:
        return found is not None and bool(until(found[1]))

    found = await wait_for(observe, holds, what=what, timeout=timeout, describe=_summary)
    assert found is not None
    return found


def _summary(found: tuple[Path, mf.Manifest] | None) -> str:
    if found is None:
        return "no manifest yet"
    m = found[1]
    return f"state {m.state}, {len(m.segments)} closed segments, open {m.open_segments}"
