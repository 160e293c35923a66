"""Every reach into aiortc's and aioice's private internals, in one package.

aiortc decodes everything it receives and encodes everything it sends; the gateway
needs neither. We keep aiortc for ICE, DTLS, SRTP and SDP and take the RTP path over:

- ingress: a receiver's `_handle_rtp_packet` is replaced, so packets go to a Producer
  instead of the jitter buffer and decoder (RTCP receiver reports, NACK generation
  and REMB still work, fed from the same stats objects aiortc uses); SRTP media is
  handled in the socket callback, a burst read into a queue ahead of its fan-out and
  worked off in turns of at most 5 ms;
- egress: a sender gets a track that never yields, so aiortc never encodes; we write
  RTP ourselves and put it on the socket after SRTP protection, and aiortc's own RTCP
  loop sends sender reports from the values we give it;
- viewer feedback (NACK, PLI, FIR) on a sender is routed to the Consumer; a camera
  agent that encodes its own pictures hears a viewer's PLI (`tap_keyframe_requests`),
  and any agent hears the gateway's receiver reports arrive (`tap_rtcp_arrival`: its
  liveness watchdog);
- simulcast ingress: a receiver's rid layers (told apart by the rtp-stream-id header
  extensions, negotiated with the offer's ids) each get their SSRC, NACKs, PLIs and
  sender reports, the latter routed by naming the SSRC to the transport's router;
- SRTP: a peer's sessions take RTP up to a 1500-byte MTU (pylibsrtp's own buffer stops
  at 1356 bytes of RTP);
- connection: ICE host addresses (the process's one aioice patch, also used by the
  composition root for in-process agents), DTLS certificate and role,
  and the negotiated state of a transceiver (codecs, extensions, offered direction);
- sockets: the kernel buffers of a peer's ICE sockets (keyframe bursts), what was granted.

aiortc and aioice are pinned exactly in pyproject.toml. `check_compatibility()` is run
by the test-suite and at node start: an upgrade that moves any of these fails loudly.
Nothing outside this package touches an aiortc or aioice private name.
"""

from aiortc.rtp import RtpPacket

from .compat import check_compatibility, ensure_compatible
from .connection import (
    GatewayCertificate,
    default_host_addresses,
    negotiated_codecs,
    negotiated_extension_id,
    offered_direction,
    prefer_dtls_server,
    set_host_addresses,
    set_negotiated_codecs,
    use_gateway_certificate,
)
from .egress import (
    SenderOutput,
    SilentTrack,
    sender_ssrc,
    tap_keyframe_requests,
    tap_rtcp_arrival,
    tap_sender_feedback,
)
from .ingress import IngestTap, RtpTap, SenderReports, fast_ingress
from .simulcast_ingress import LayerIngress, SimulcastIngestTap, add_negotiated_extensions
from .sockets import Granted, tune_socket_buffers
from .srtp import MAX_RTP_PACKET, allow_full_mtu

__all__ = [
    "MAX_RTP_PACKET",
    "GatewayCertificate",
    "Granted",
    "IngestTap",
    "LayerIngress",
    "RtpPacket",
    "RtpTap",
    "SenderOutput",
    "SenderReports",
    "SilentTrack",
    "SimulcastIngestTap",
    "add_negotiated_extensions",
    "allow_full_mtu",
    "check_compatibility",
    "default_host_addresses",
    "ensure_compatible",
    "fast_ingress",
    "negotiated_codecs",
    "negotiated_extension_id",
    "offered_direction",
    "prefer_dtls_server",
    "sender_ssrc",
    "set_host_addresses",
    "set_negotiated_codecs",
    "tap_keyframe_requests",
    "tap_rtcp_arrival",
    "tap_sender_feedback",
    "tune_socket_buffers",
    "use_gateway_certificate",
]
