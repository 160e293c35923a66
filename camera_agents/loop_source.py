"""A synthetic camera that costs almost nothing: the test pattern drawn and encoded once,
then sent over and over.

At start (in the source's thread) a short loop of the pattern is drawn and encoded (H.264
or VP8, a keyframe at each GOP start, the first picture one), and a second of the tone is
encoded to Opus; from then on the thread only hands the same encoded pictures and packets
on, with timestamps that keep rising at the frame rate. Drawing and encoding 720p30 per
picture cost a demo station about a third of a core; sending a loop costs a few percent.

The loop's motion (a scrolling pattern, a sliding box) goes round once per pass, so the
wrap does not show; it has no wall clock burned in (it would jump back each pass). A
keyframe request (a new publication, a viewer's PLI) makes the next picture sent the
loop's next keyframe, skipping ahead to it: a late viewer starts within a picture.

The demo's stations use it (vdispatch/demo.py); a station's `testsrc` camera is still
drawn and encoded live (camera_agents/testsrc.py PatternSource)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import av
from aiortc import MediaStreamTrack

from .encoder import CODECS, VIDEO_TB, make_encoder
from .opus import AUDIO_RATE, AUDIO_TB, FRAME, OpusEncoder
from .source import VIDEO_CLOCK, CameraSource, Media, SubscriptionTrack
from .testsrc import PatternRenderer, tone


@dataclass(frozen=True)
class Picture:
    data: bytes  # one encoded picture (an Annex B access unit, or a VP8 frame)
    keyframe: bool


def encode_video_loop(
    label: str,
    *,
    width: int,
    height: int,
    fps: int,
    pictures: int,
    gop: int,
    bitrate: int,
    codec: str = "h264",
) -> list[Picture]:
    """`pictures` encoded pictures of the pattern, moving once round; a keyframe every
    `gop` pictures from the first. Blocking: CPU for a second or so at 720p."""
    renderer = PatternRenderer(label, width, height, period=pictures)
    encoder = make_encoder(codec, width, height, fps, bitrate, gop / fps)
    out: list[Picture] = []
    for index in range(pictures):
        if index % gop == 0:
            encoder.request_keyframe()
        for packet, key in encoder.encode(renderer.frame(index)):
            out.append(Picture(bytes(packet), key))
    if len(out) != pictures or not out[0].keyframe:  # one in, one out, starting at a key
        raise RuntimeError(f"the encoder gave {len(out)} pictures for {pictures}")
    return out


def encode_tone_loop(seconds: int = 1) -> list[bytes]:
    """Opus packets (20 ms) of `seconds` of the tone: a whole number of its periods (a beep
    a second, 440 Hz), so played round it joins up. Encoded after a second of warm-up, so
    the first packet does not carry the encoder's start."""
    opus = OpusEncoder()
    warm = AUDIO_RATE  # a second
    packets: list[bytes] = []
    for start in range(0, warm + seconds * AUDIO_RATE, FRAME):
        for packet in opus.encode(tone(start, FRAME)):
            if packet.pts is not None and packet.pts >= warm:
                packets.append(bytes(packet))
    return packets[: seconds * AUDIO_RATE // FRAME]


class LoopSource(CameraSource):
    """The test pattern as a pre-encoded loop (see the module's note)."""

    kind_name = "testsrc-loop"

    def __init__(
        self,
        camera: str,
        label: str,
        audio: bool = True,
        *,
        width: int = 1280,
        height: int = 720,
        fps: int = 30,
        seconds: int = 4,
        keyframe_seconds: float = 1.0,
        # the pattern is smooth: 1.2 Mb/s asked gives ~0.85 Mb/s at the PSNR of 2 Mb/s
        # (37 dB), and half the RTP packets every hop handles
        bitrate: int = 1_200_000,
        codec: str = "h264",
    ) -> None:
        super().__init__(camera)
        self.label = label
        self.audio = audio
        self.has_audio = audio
        self.width, self.height, self.fps = width, height, fps
        self.pictures = seconds * fps
        self.gop = max(1, round(keyframe_seconds * fps))
        self.bitrate = bitrate
        self.codec_name = codec
        self.codec = CODECS[codec]
        self.keyframes_requested = 0
        self._want_key = threading.Event()  # set from the loop, read in the thread

    def request_keyframe(self) -> None:
        self.keyframes_requested += 1
        self._want_key.set()

    def tracks(self) -> list[MediaStreamTrack]:
        tracks: list[MediaStreamTrack] = [SubscriptionTrack(self, "video", self.codec)]
        if self.audio:
            tracks.append(SubscriptionTrack(self, "audio", "audio/opus", pace=True))
        return tracks

    def _run_thread(self) -> None:
        self._state("connecting")
        try:
            video = encode_video_loop(
                self.label,
                width=self.width,
                height=self.height,
                fps=self.fps,
                pictures=self.pictures,
                gop=self.gop,
                bitrate=self.bitrate,
                codec=self.codec_name,
            )
            sound = encode_tone_loop() if self.audio else []
        except (av.FFmpegError, RuntimeError) as exc:
            self._state("stopped", f"cannot encode the loop: {exc}")
            return
        keys = [i for i, p in enumerate(video) if p.keyframe]
        start = time.monotonic()
        sent = 0  # pictures sent: the clock
        at = 0  # the loop's next picture
        samples = 0
        while not self._stop.is_set():
            late = time.monotonic() - (start + sent / self.fps)
            if late < 0 and not self._sleep(-late):
                break
            if self._want_key.is_set():
                self._want_key.clear()
                at = next((k for k in keys if k >= at), 0)  # the next keyframe, or the first
            picture = video[at]
            packet = av.Packet(picture.data)
            packet.pts = packet.dts = round(sent * VIDEO_CLOCK / self.fps)
            packet.time_base = VIDEO_TB
            self._emit(Media("video", packet, picture.keyframe, len(picture.data)))
            sent += 1
            at = (at + 1) % len(video)
            # the tone up to the next picture's time, on the same (picture count) clock
            while sound and samples < sent * AUDIO_RATE / self.fps:
                data = sound[(samples // FRAME) % len(sound)]
                out = av.Packet(data)
                out.pts = out.dts = samples
                out.time_base = AUDIO_TB
                self._emit(Media("audio", out, False, len(data)))
                samples += FRAME
