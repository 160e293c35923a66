"""A test IP camera: GStreamer's RTSP server (gst-rtsp-server through python3-gi) serving
H.264 (x264, a keyframe every second, SPS/PPS in band) and AAC from test sources.

Run with Debian's /usr/bin/python3 (not the venv): it needs gi and the typelibs.
    rtsp_server.py PORT [--size 320x240] [--fps 30] [--user U --password P]
Mount /cam. Prints "ready" once it listens; serves until killed. The media is shared:
every client gets the same encoded stream (tests compare what two clients receive)."""

from __future__ import annotations

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=600, help="kbit/s")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--no-audio", action="store_true")
    parser.add_argument("--pattern", default="ball", help="videotestsrc pattern (snow: busy)")
    args = parser.parse_args()
    Gst.init(None)
    width, height = args.size.split("x")
    video = (
        f"videotestsrc is-live=true pattern={args.pattern}"
        f" ! video/x-raw,width={width},height={height},framerate={args.fps}/1"
        " ! x264enc tune=zerolatency speed-preset=ultrafast"
        f" key-int-max={args.fps} bitrate={args.bitrate} ! video/x-h264,profile=baseline"
        " ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )
    audio = (
        " audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000,channels=1"
        " ! avenc_aac ! rtpmp4gpay name=pay1 pt=97"
    )
    launch = f"( {video}{'' if args.no_audio else audio} )"
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        role = Gst.Structure.from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )[0]
        factory.add_role_from_structure(role)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print("cannot listen", file=sys.stderr, flush=True)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
