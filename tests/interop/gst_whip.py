"""A minimal WHIP publisher on GStreamer's webrtcbin (1.22 has no whipclientsink).

Runs under Debian's /usr/bin/python3 (python3-gi), not the project's venv:

    gst_whip.py URL TOKEN [--seconds N] [--setup passive] [--codec h264]

videotestsrc ! vp8enc ! rtpvp8pay ! webrtcbin (sendonly), or with `--codec h264`
x264enc ! rtph264pay at the payloader's default MTU (1400-byte RTP packets) on a noise
pattern, so nearly every packet is that large. The offer is POSTed once ICE
gathering is complete (no trickle), the answer set as the remote description, then media
flows for N seconds and the resource is DELETEd. Progress goes to stderr; the exit status
is 0 only if the peer connection reached "connected".

webrtcbin always offers `a=setup:actpass`. `--setup passive` rewrites that in the offer
sent, so the gateway has to be the DTLS client against webrtcbin's RSA certificate;
webrtcbin follows the answer's `a=setup:active` and acts as DTLS server.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urljoin

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

RAW = "video/x-raw,width=320,height=240,framerate=30/1"
PIPELINES = {
    "vp8": (
        f"videotestsrc is-live=true pattern=ball ! {RAW}"
        " ! vp8enc deadline=1 keyframe-max-dist=30 target-bitrate=500000"
        " ! rtpvp8pay pt=96 mtu=1200"
        " ! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"
        " ! webrtcbin name=webrtc bundle-policy=max-bundle"
    ),
    # rtph264pay's mtu is left at its default (1400); snow keeps the frames large.
    "h264": (
        f"videotestsrc is-live=true pattern=snow ! {RAW}"
        " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate=1500"
        " ! video/x-h264,profile=constrained-baseline"
        " ! rtph264pay pt=102 config-interval=-1"
        " ! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000"
        " ! webrtcbin name=webrtc bundle-policy=max-bundle"
    ),
}

# Never through a proxy from the environment: the gateway is on a local address.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(msg: str) -> None:
    print(f"gst_whip: {msg}", file=sys.stderr, flush=True)


class WhipClient:
    def __init__(self, url: str, token: str, seconds: float, setup: str, codec: str) -> None:
        self.url = url
        self.token = token
        self.seconds = seconds
        self.setup = setup
        self.loop = GLib.MainLoop()
        self.pipe = Gst.parse_launch(PIPELINES[codec])
        self.webrtc = self.pipe.get_by_name("webrtc")
        self.resource: str | None = None
        self.connected = False
        self.offer_sent = False
        self.error: str | None = None
        self.webrtc.connect("on-negotiation-needed", self._on_negotiation_needed)
        self.webrtc.connect("notify::ice-gathering-state", self._on_gathering)
        self.webrtc.connect("notify::connection-state", self._on_connection_state)
        self.webrtc.connect("notify::ice-connection-state", self._on_ice_state)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_bus_error)

    def run(self) -> int:
        transceiver = self.webrtc.emit("get-transceiver", 0)
        if transceiver is None:
            log("webrtcbin has no transceiver")
            return 1
        transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        self.pipe.set_state(Gst.State.PLAYING)
        GLib.timeout_add_seconds(15, self._connect_deadline)
        self.loop.run()
        self.pipe.set_state(Gst.State.NULL)
        self._delete()
        if self.error:
            log(f"failed: {self.error}")
        return 0 if self.connected and not self.error else 1

    def fail(self, reason: str) -> None:
        self.error = self.error or reason
        self.loop.quit()

    # ---- signaling

    def _on_negotiation_needed(self, element: Gst.Element) -> None:
        promise = Gst.Promise.new_with_change_func(self._on_offer_created, None)
        element.emit("create-offer", None, promise)

    def _on_offer_created(self, promise: Gst.Promise, _data: object) -> None:
        promise.wait()
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None else None
        if offer is None:
            GLib.idle_add(self.fail, "webrtcbin created no offer")
            return
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def _on_gathering(self, element: Gst.Element, _pspec: object) -> None:
        state = element.get_property("ice-gathering-state")
        log(f"ice gathering {state.value_nick}")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not self.offer_sent:
            self.offer_sent = True
            GLib.idle_add(self._post_offer)

    def _post_offer(self) -> bool:
        sdp = self.webrtc.get_property("local-description").sdp.as_text()
        if self.setup != "actpass":
            sdp = sdp.replace("a=setup:actpass", f"a=setup:{self.setup}")
        request = urllib.request.Request(
            self.url,
            data=sdp.encode(),
            method="POST",
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with _http.open(request, timeout=10) as response:
                status = response.status
                location = response.headers.get("Location")
                answer = response.read().decode()
        except urllib.error.HTTPError as exc:
            self.fail(f"WHIP answered {exc.code}: {exc.read().decode(errors='replace').strip()}")
            return False
        except OSError as exc:
            self.fail(f"WHIP request failed: {exc}")
            return False
        if status != 201 or not location:
            self.fail(f"WHIP answered {status} (Location: {location})")
            return False
        self.resource = urljoin(self.url, location)
        log(f"published, resource {self.resource}")
        ok, message = GstSdp.SDPMessage.new_from_text(answer)
        if ok != GstSdp.SDPResult.OK:
            self.fail("unparsable SDP answer")
            return False
        description = GstWebRTC.WebRTCSessionDescription.new(
            GstWebRTC.WebRTCSDPType.ANSWER, message
        )
        self.webrtc.emit("set-remote-description", description, Gst.Promise.new())
        return False

    def _delete(self) -> None:
        if self.resource is None:
            return
        request = urllib.request.Request(
            self.resource, method="DELETE", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with _http.open(request, timeout=5) as response:
                log(f"DELETE {response.status}")
        except OSError as exc:
            log(f"DELETE failed: {exc}")

    # ---- state

    def _on_ice_state(self, element: Gst.Element, _pspec: object) -> None:
        log(f"ice {element.get_property('ice-connection-state').value_nick}")

    def _on_connection_state(self, element: Gst.Element, _pspec: object) -> None:
        state = element.get_property("connection-state")
        log(f"connection {state.value_nick}")
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED and not self.connected:
            self.connected = True
            GLib.timeout_add(int(self.seconds * 1000), self.loop.quit)
        elif state == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            GLib.idle_add(self.fail, "peer connection failed")

    def _connect_deadline(self) -> bool:
        if not self.connected:
            self.fail("not connected after 15 s")
        return False

    def _on_bus_error(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        err, debug = message.parse_error()
        self.fail(f"{err.message} ({debug})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--seconds", type=float, default=8.0, help="media time once connected")
    parser.add_argument("--setup", choices=["actpass", "passive"], default="actpass")
    parser.add_argument("--codec", choices=sorted(PIPELINES), default="vp8")
    args = parser.parse_args()
    Gst.init(None)
    started = time.monotonic()
    status = WhipClient(args.url, args.token, args.seconds, args.setup, args.codec).run()
    log(f"exit {status} after {time.monotonic() - started:.1f}s")
    return status


if __name__ == "__main__":
    sys.exit(main())
