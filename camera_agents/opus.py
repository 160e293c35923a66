"""Camera audio to Opus in the source's thread: mono, 20 ms packets, speech bitrate.

Handing aiortc Opus packets (it sends them as they are) instead of PCM frames keeps the
encoding off the loop and cheap: a camera's microphone is one voice channel, so mono at a
moderate complexity, not aiortc's stereo encoder at full complexity (that tripled the
agent's CPU per camera)."""

from __future__ import annotations

import fractions

import av

AUDIO_RATE = 48000
FRAME = AUDIO_RATE // 50  # 20 ms: one Opus packet, one RTP timestamp step
AUDIO_TB = fractions.Fraction(1, AUDIO_RATE)


class OpusEncoder:
    def __init__(self, bitrate: int = 32000, complexity: int = 2, first_pts: int = 0) -> None:
        self._resampler = av.AudioResampler(
            format="s16", layout="mono", rate=AUDIO_RATE, frame_size=FRAME
        )
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate = AUDIO_RATE
        codec.layout = "mono"
        codec.format = "s16"
        codec.bit_rate = bitrate
        codec.time_base = AUDIO_TB
        codec.options = {
            "application": "voip",
            "compression_level": str(complexity),
            "frame_duration": "20",
        }
        self._codec = codec
        self._samples = 0  # fed to the encoder
        # timestamps of packets handed on: contiguous, 20 ms apart, from first_pts (a
        # looped file's next pass goes on where its video does)
        self._sent = first_pts

    def encode(self, frame: av.AudioFrame) -> list[av.Packet]:
        out: list[av.Packet] = []
        for chunk in self._resampler.resample(frame):
            chunk.pts, chunk.time_base = self._samples, AUDIO_TB
            self._samples += chunk.samples
            for packet in self._codec.encode(chunk):
                packet.pts = packet.dts = self._sent
                packet.time_base = AUDIO_TB
                self._sent += FRAME
                out.append(packet)
        return out
