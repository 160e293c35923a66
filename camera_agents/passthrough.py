"""H.264 passed through from a PyAV demuxer (an RTSP camera, a file): never re-encoded.

The demuxer runs in the source's thread. Packets of one picture (a camera's slices can
come as several packets with one timestamp) are joined into one Annex B access unit, AVCC
samples (MP4/MKV) are converted, and SPS/PPS go in front of every keyframe that lacks them
(from the stream's extradata or the last in-band ones), so a viewer can start at any
keyframe. Timestamps are the camera's own (its pts, on a 90 kHz clock). Audio (AAC,
G.711, …) is decoded and encoded to Opus here (camera_agents/opus.py).
"""

from __future__ import annotations

import fractions
import time
from dataclasses import dataclass

import av
from aiortc import MediaStreamTrack

from bitstream import (
    avcc_parameter_sets,
    length_prefixed_to_annexb,
    nal_types,
    parameter_sets_of,
)

from .opus import AUDIO_RATE, OpusEncoder
from .source import VIDEO_CLOCK, CameraSource, Media, SubscriptionTrack

VIDEO_TB = fractions.Fraction(1, VIDEO_CLOCK)
SLICES = {1, 5}  # coded slices: a non-IDR picture, an IDR picture
NAL_IDR, NAL_SPS, NAL_PPS = 5, 7, 8
MAX_STEP = 2.0  # seconds between two pictures beyond which the camera's clock jumped


class SourceError(Exception):
    """Opening or reading the camera failed; `message` is safe to show and log."""

    def __init__(self, message: str, *, slow: bool = False) -> None:
        super().__init__(message)
        self.slow = slow  # retrying soon cannot help (a wrong password): back off further


@dataclass
class Backoff:
    initial: float = 0.5
    fast_max: float = 0.5  # camera unreachable or rebooting: look again soon
    slow_max: float = 30.0  # refused (credentials, not H.264): no hammering

    def next(self, delay: float, slow: bool) -> float:
        return min(delay * 2, self.slow_max if slow else self.fast_max)


class PassthroughSource(CameraSource):
    """Subclasses open the container and say whether to pace it (a file) or not (live)."""

    realtime = False  # pace by pts against the wall clock (files); live input paces itself
    loop_input = False  # start again at the end (files)

    def __init__(self, camera: str, audio: bool = True, backoff: Backoff | None = None) -> None:
        super().__init__(camera)
        self.audio = audio
        self.backoff = backoff or Backoff()
        self._offset = 0.0  # seconds added to pts: a looped file's earlier passes

    def _open(self) -> av.container.InputContainer:
        raise NotImplementedError

    def _error(self, exc: Exception) -> SourceError:
        return SourceError(f"{type(exc).__name__}: {exc}")

    def tracks(self) -> list[MediaStreamTrack]:
        tracks: list[MediaStreamTrack] = [SubscriptionTrack(self, "video", "video/H264")]
        if self.audio:
            tracks.append(SubscriptionTrack(self, "audio", "audio/opus", pace=True))
        return tracks

    def _run_thread(self) -> None:
        delay = self.backoff.initial
        looping = False
        while not self._stop.is_set():
            if not looping:  # a file's next pass goes on live
                self._state("connecting")
            looping, slow = False, False
            try:
                container = self._open()
            except SourceError as exc:
                self._state("retrying", str(exc))
                slow = exc.slow
            else:
                try:
                    if self._pump(container):
                        delay = self.backoff.initial
                        looping = self.loop_input
                    if looping:
                        continue  # a file's end: the next pass at once
                    if not self._stop.is_set():
                        self._state("retrying", "the camera ended the stream")
                except SourceError as exc:
                    self._state("retrying", str(exc))
                    slow = exc.slow
                except (av.FFmpegError, OSError) as exc:
                    self._state("retrying", str(self._error(exc)))
                finally:
                    container.close()
            if not self._sleep(delay):
                break
            delay = self.backoff.next(delay, slow)

    def _pump(self, container: av.container.InputContainer) -> bool:
        """Demux until the end or a stop; True when some media went through."""
        if not container.streams.video:
            raise SourceError("no video stream", slow=True)
        video = container.streams.video[0]
        name = video.codec_context.name
        if name != "h264":
            raise SourceError(f"video is {name}, not H.264: cannot pass it through", slow=True)
        length_size, sets = 0, b""
        extradata = video.codec_context.extradata or b""
        if extradata[:1] == b"\x01":
            length_size, sets = avcc_parameter_sets(extradata)
        else:
            sets = parameter_sets_of(extradata)
        streams: list[av.stream.Stream] = [video]
        audio = container.streams.audio[0] if self.audio and container.streams.audio else None
        opus = None
        self.has_audio = audio is not None  # before the first packet (the spool's tracks)
        if audio is not None:
            streams.append(audio)
            # On the video's timeline: a file's next pass goes on where the last ended,
            # not back at 0 (its RTP clock stepping back a pass put the node's recording
            # of it a pass in the past until the next sender report).
            opus = OpusEncoder(first_pts=round(self._offset * AUDIO_RATE))
        video_tb = video.time_base or VIDEO_TB
        base: float | None = None  # the first pts of this pass (seconds)
        started = time.monotonic()
        # the packets of the picture being joined (one, mostly: joined only when several)
        pending: list[bytes] = []
        pending_pts: int | None = None
        last = 0.0
        sent = False

        step = float(1 / (video.average_rate or 30))

        def flush() -> None:
            nonlocal sets, sent, last, base
            if not pending or pending_pts is None:
                pending.clear()
                return
            au = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            # The NAL types once per picture (each scan splits the whole access unit):
            # parameter sets are looked for only where there are some, and put in front
            # of an IDR without its own (as with_parameter_sets does).
            types = nal_types(au)
            if not SLICES.intersection(types):
                self._skip(f"an access unit without a picture (NAL types {types})")
                return
            if NAL_SPS in types or NAL_PPS in types:
                sets = parameter_sets_of(au) or sets
            if NAL_IDR in types and NAL_SPS not in types and sets:
                au = sets + au
            seconds = float(pending_pts * video_tb) - (base or 0.0)
            if sent and not last < seconds <= last + MAX_STEP:
                # The camera's clock jumped (an RTCP resync, a wrap, a bad pts): keep our
                # timestamps rising at the frame rate, then follow the camera again.
                base = (base or 0.0) + seconds - last - step
                seconds = last + step
            if self.realtime:
                ahead = started + seconds - time.monotonic()
                if ahead > 0 and not self._sleep(ahead):
                    return
            last = seconds
            packet = av.Packet(au)
            packet.pts = packet.dts = round((seconds + self._offset) * VIDEO_CLOCK)
            packet.time_base = VIDEO_TB
            self._emit(Media("video", packet, NAL_IDR in types, len(au)))
            sent = True

        for packet in container.demux(*streams):
            if self._stop.is_set():
                return sent
            if packet.stream is video:
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                data = bytes(packet)
                if length_size:
                    try:
                        data = length_prefixed_to_annexb(data, length_size)
                    except ValueError as exc:
                        self._skip(str(exc))
                        continue
                if packet.pts is not None and pending_pts is not None and packet.pts != pending_pts:
                    flush()
                if packet.pts is not None:
                    if base is None:
                        base = float(packet.pts * video_tb)
                    pending_pts = packet.pts
                pending.append(data)
            elif audio is not None and opus is not None and base is not None:
                try:
                    frames = packet.decode()
                    encoded = [
                        p for f in frames if isinstance(f, av.AudioFrame) for p in opus.encode(f)
                    ]
                except av.FFmpegError as exc:
                    self._skip(f"audio: {exc}")
                    continue
                for out in encoded:
                    self._emit(Media("audio", out, False, out.size))
        flush()
        if self.loop_input and base is not None:
            self._offset += last + step
        return sent
