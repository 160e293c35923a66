"""H.264 (and VP8, below) encoded at the agent, in the camera's thread (a USB camera, the
test pattern).

The agent encodes pictures itself (instead of handing aiortc decoded frames) so that every
camera yields encoded packets: the same passthrough publication and the same sinks (the
spool) as an RTSP camera. libx264 ultrafast/zerolatency, constrained baseline (no
B-frames: each picture goes out as it is made, and aiortc's packetizer sends whatever
access unit it is handed), Annex B with SPS/PPS before every IDR (a viewer, and a spool
segment, can start at any keyframe). A keyframe request (a viewer's PLI reaching the
publisher, a new publication) makes the next picture an IDR."""

from __future__ import annotations

import fractions
import threading
from typing import cast

import av
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from bitstream import nal_types, parameter_sets_of, with_parameter_sets

from .source import VIDEO_CLOCK

VIDEO_TB = fractions.Fraction(1, VIDEO_CLOCK)
IDR = 5
CODECS = {"h264": "video/H264", "vp8": "video/VP8"}  # the config's name -> the track's


class _PictureEncoder:
    """One picture in, one encoded picture out, on the 90 kHz clock; a keyframe when
    asked. The codecs below differ in their options and in how an output is read."""

    codec_name = ""

    def __init__(
        self,
        width: int,
        height: int,
        fps: int,
        bitrate: int = 2_500_000,
        keyframe_seconds: float = 2.0,
    ) -> None:
        codec = cast(VideoCodecContext, av.CodecContext.create(self.codec_name, "w"))
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.time_base = fractions.Fraction(1, fps)
        codec.framerate = fractions.Fraction(fps, 1)
        codec.bit_rate = bitrate
        codec.gop_size = max(1, round(keyframe_seconds * fps))
        codec.options = self.options(codec.gop_size)
        self._codec = codec
        self._fps = fps
        self._index = 0
        self._want_key = threading.Event()  # set from the loop, read in the thread
        self.keyframes_forced = 0

    def options(self, gop_size: int) -> dict[str, str]:
        raise NotImplementedError

    def output(self, data: bytes) -> tuple[bytes, bool]:
        """An encoded picture as it is sent, and whether it is a keyframe."""
        raise NotImplementedError

    def request_keyframe(self) -> None:
        """Any thread: the next picture is a keyframe."""
        self._want_key.set()

    def encode(self, frame: av.VideoFrame, pts: int | None = None) -> list[tuple[av.Packet, bool]]:
        """One picture (yuv420p at the configured size) in; (encoded picture, is keyframe)
        out, on the 90 kHz clock: `pts` (a capture time) or the picture count. One in, one
        out (no look-ahead, no B-frames), so the picture's own time goes on its packet."""
        if pts is None:
            pts = round(self._index * VIDEO_CLOCK / self._fps)
        frame.pts, frame.time_base = self._index, self._codec.time_base
        frame.pict_type = PictureType.NONE
        if self._want_key.is_set():
            self._want_key.clear()
            frame.pict_type = PictureType.I
            self.keyframes_forced += 1
        self._index += 1
        out: list[tuple[av.Packet, bool]] = []
        for packet in self._codec.encode(frame):
            data, key = self.output(bytes(packet))
            encoded = av.Packet(data)
            encoded.pts = encoded.dts = pts
            encoded.time_base = VIDEO_TB
            out.append((encoded, key))
        return out


class H264Encoder(_PictureEncoder):
    """libx264 ultrafast/zerolatency, baseline: Annex B access units, SPS/PPS before
    every IDR, a forced keyframe an IDR."""

    codec_name = "libx264"

    def __init__(
        self,
        width: int,
        height: int,
        fps: int,
        bitrate: int = 2_500_000,
        keyframe_seconds: float = 2.0,
    ) -> None:
        super().__init__(width, height, fps, bitrate, keyframe_seconds)
        self._sets = b""

    def options(self, gop_size: int) -> dict[str, str]:
        return {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            # SPS/PPS in band before each IDR; a forced keyframe is an IDR (not a
            # recovery-point I picture a decoder cannot start at); no B-frames
            "x264-params": "repeat-headers=1:forced-idr=1:bframes=0",
        }

    def output(self, data: bytes) -> tuple[bytes, bool]:
        key = IDR in nal_types(data)
        if key:
            self._sets = parameter_sets_of(data) or self._sets
            data = with_parameter_sets(data, self._sets)
        return data, key


class VP8Encoder(_PictureEncoder):
    """VP8 made in the camera's thread like H.264 above (so a VP8 USB camera is spooled
    too): libvpx with the realtime deadline, cpu-used high (speed over quality per bit,
    as aiortc's own VP8 encoder), no look-ahead (each picture out as it is made), a
    keyframe every `keyframe_seconds` and on request."""

    codec_name = "libvpx"

    def options(self, gop_size: int) -> dict[str, str]:
        return {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "error-resilient": "1",  # a lost packet spoils less (live over a bad line)
            "keyint_min": str(gop_size),
        }

    def output(self, data: bytes) -> tuple[bytes, bool]:
        # the frame tag's first bit: 0 for a keyframe (RFC 6386 §9.1)
        return data, bool(data) and not data[0] & 1


Encoder = H264Encoder | VP8Encoder


def make_encoder(
    codec: str, width: int, height: int, fps: int, bitrate: int, keyframe_seconds: float
) -> Encoder:
    """`codec`: "h264" or "vp8" (the station config's)."""
    kind = VP8Encoder if codec == "vp8" else H264Encoder
    return kind(width, height, fps, bitrate, keyframe_seconds)
