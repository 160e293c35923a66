"""A USB camera (V4L2) and a microphone (ALSA) through PyAV: decoded here (MJPEG/YUYV),
scaled to the configured size and encoded here too, H.264 or VP8 (camera_agents/encoder.py),
so it is published and spooled like an RTSP camera."""

from __future__ import annotations

import fractions
import time

import av
from aiortc import MediaStreamTrack

from .encoder import CODECS, Encoder, make_encoder
from .opus import OpusEncoder
from .passthrough import Backoff
from .source import VIDEO_CLOCK, CameraSource, Media, SubscriptionTrack

VIDEO_TB = fractions.Fraction(1, VIDEO_CLOCK)


class _DeviceSource(CameraSource):
    """Open a capture device, read it until it fails, retry with back-off."""

    def __init__(self, camera: str, backoff: Backoff | None = None) -> None:
        super().__init__(camera)
        self.backoff = backoff or Backoff()

    def _open(self) -> av.container.InputContainer:
        raise NotImplementedError

    def _read(self, container: av.container.InputContainer) -> None:
        raise NotImplementedError

    def _run_thread(self) -> None:
        delay = self.backoff.initial
        while not self._stop.is_set():
            self._state("connecting")
            try:
                container = self._open()
            except (av.FFmpegError, OSError) as exc:
                self._state("retrying", f"cannot open {self.description}: {exc}")
            else:
                try:
                    self._read(container)
                    delay = self.backoff.initial
                    if not self._stop.is_set():
                        self._state("retrying", f"{self.description} ended")
                except (av.FFmpegError, OSError) as exc:
                    self._state("retrying", f"{self.description}: {exc}")
                finally:
                    container.close()
            if not self._sleep(delay):
                break
            delay = self.backoff.next(delay, slow=False)


class V4l2Source(_DeviceSource):
    kind_name = "v4l2"

    def __init__(
        self,
        camera: str,
        device: str,
        *,
        width: int = 1280,
        height: int = 720,
        fps: int = 30,
        codec: str = "h264",
        bitrate: int = 2_500_000,
        keyframe_seconds: float = 2.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(camera, backoff)
        self.device = device
        self.width, self.height, self.fps = width, height, fps
        self.codec_name = codec
        self.codec = CODECS[codec]
        self.bitrate, self.keyframe_seconds = bitrate, keyframe_seconds
        self.encoder: Encoder | None = None

    def request_keyframe(self) -> None:
        if self.encoder is not None:
            self.encoder.request_keyframe()

    @property
    def description(self) -> str:
        return self.device

    def tracks(self) -> list[MediaStreamTrack]:
        return [SubscriptionTrack(self, "video", self.codec)]

    def _open(self) -> av.container.InputContainer:
        options = {"video_size": f"{self.width}x{self.height}", "framerate": str(self.fps)}
        return av.open(self.device, format="v4l2", options=options)

    def _read(self, container: av.container.InputContainer) -> None:
        stream = container.streams.video[0]
        # a fresh encoder per opening: starts at a keyframe
        encoder = self.encoder = make_encoder(
            self.codec_name, self.width, self.height, self.fps, self.bitrate, self.keyframe_seconds
        )
        start = time.monotonic()
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                self._skip(f"undecodable picture: {exc}")
                continue
            for frame in frames:
                # the camera may not offer the size asked for: scale to it
                out = frame.reformat(width=self.width, height=self.height, format="yuv420p")
                pts = round((time.monotonic() - start) * VIDEO_CLOCK)
                for encoded, key in encoder.encode(out, pts):
                    self._emit(Media("video", encoded, key, encoded.size))


class AlsaSource(_DeviceSource):
    """A microphone: `hw:1`, `default`, … encoded to Opus here."""

    kind_name = "alsa"

    def __init__(self, camera: str, device: str, backoff: Backoff | None = None) -> None:
        super().__init__(camera, backoff)
        self.device = device

    @property
    def description(self) -> str:
        return f"alsa:{self.device}"

    def tracks(self) -> list[MediaStreamTrack]:
        return [SubscriptionTrack(self, "audio", "audio/opus", pace=True)]

    def _open(self) -> av.container.InputContainer:
        return av.open(self.device, format="alsa")

    def _read(self, container: av.container.InputContainer) -> None:
        stream = container.streams.audio[0]
        opus = OpusEncoder()
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            for frame in packet.decode():
                if isinstance(frame, av.AudioFrame):
                    for out in opus.encode(frame):
                        self._emit(Media("audio", out, False, out.size))
