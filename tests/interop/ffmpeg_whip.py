"""Publish synthetic H.264 (+ Opus) with FFmpeg's own WHIP muxer, through PyAV.

    ffmpeg_whip.py URL TOKEN [--seconds N] [--audio] [--cert PEM --key PEM] [--dtls-active]
                   [--pkt-size BYTES]

Runs in a process of its own: PyAV calls avformat_write_header, which for the whip muxer
does the whole HTTP offer/answer, ICE and DTLS handshake, without releasing the GIL, so an
in-process gateway (asyncio in the same interpreter) could never answer it.

libx264 baseline/zerolatency (the whip muxer takes H.264 baseline and Opus only), a moving
pattern at 320x240, 30 fps, a keyframe every second; `--audio` adds a 440 Hz Opus tone.
Without --cert/--key FFmpeg makes its own certificate; `--pkt-size` is the muxer's
`pkt_size` (the largest RTP packet, 1200 by default). Exit status 0 once every frame
was muxed and the muxer closed cleanly; FFmpeg's own log goes to stderr.
"""

from __future__ import annotations

import argparse
import fractions
import logging
import math
import os
import sys
import time

import av
import numpy as np

WIDTH, HEIGHT, FPS = 320, 240, 30
SAMPLE_RATE, OPUS_FRAME = 48000, 960


def video_frame(i: int) -> av.VideoFrame:
    y = np.arange(HEIGHT)[:, None]
    x = np.arange(WIDTH)[None, :]
    img = np.empty((HEIGHT, WIDTH, 3), dtype=np.uint8)
    img[..., 0] = (x + 4 * i) % 256
    img[..., 1] = (y + 2 * i) % 256
    img[..., 2] = ((x ^ y) + i) % 256
    frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
    frame.pts = i
    frame.time_base = fractions.Fraction(1, FPS)
    return frame


def audio_frame(pts: int) -> av.AudioFrame:
    t = (pts + np.arange(OPUS_FRAME)) / SAMPLE_RATE
    tone = (0.2 * 32767 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(tone, 2)[None, :], format="s16", layout="stereo")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--audio", action="store_true", help="add an Opus stream")
    parser.add_argument("--cert", help="PEM certificate for DTLS (default: FFmpeg makes one)")
    parser.add_argument("--key", help="PEM private key for --cert")
    parser.add_argument("--dtls-active", action="store_true", help="offer a=setup:active")
    parser.add_argument("--pkt-size", type=int, help="largest RTP packet (muxer's pkt_size)")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, format="ffmpeg_whip: %(name)s: %(message)s")
    debug = os.environ.get("VDISPATCH_FFMPEG_DEBUG")
    av.logging.set_level(av.logging.DEBUG if debug else av.logging.INFO)

    options = {"authorization": args.token, "handshake_timeout": "10000"}
    if args.cert or args.key:
        options.update(cert_file=args.cert, key_file=args.key)
    if args.dtls_active:
        options["whip_flags"] = "dtls_active"
    if args.pkt_size:
        options["pkt_size"] = str(args.pkt_size)

    started = time.monotonic()
    out = av.open(args.url, "w", format="whip", options=options)
    video = out.add_stream(
        "libx264",
        rate=FPS,
        options={
            "profile": "baseline",
            "tune": "zerolatency",
            "preset": "ultrafast",
            "g": str(FPS),
            "bf": "0",
        },
    )
    video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    audio = out.add_stream("libopus", rate=SAMPLE_RATE, layout="stereo") if args.audio else None
    if audio is not None:
        audio.bit_rate = 64000

    frames = int(args.seconds * FPS)
    audio_pts = 0
    try:
        for i in range(frames):
            # The first mux runs avformat_write_header: WHIP POST, ICE, DTLS.
            for packet in video.encode(video_frame(i)):
                out.mux(packet)
            while audio is not None and audio_pts < (i + 1) * SAMPLE_RATE // FPS:
                for packet in audio.encode(audio_frame(audio_pts)):
                    out.mux(packet)
                audio_pts += OPUS_FRAME
            if i == 0:
                started = time.monotonic()
            time.sleep(max(0.0, started + (i + 1) / FPS - time.monotonic()))
        for packet in video.encode(None):
            out.mux(packet)
    finally:
        out.close()  # DELETEs the WHIP resource once the session was set up
    print(f"ffmpeg_whip: muxed {frames} video frames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
