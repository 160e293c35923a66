"""What the gateway forwarded of a stream's video: read by the interop tests."""

from __future__ import annotations

from dataclasses import dataclass

from media_gateway.consumer import Consumer

from .conftest import Node

# A 1400-byte RTP packet's payload (12-byte header). Before the SRTP buffer was widened,
# nothing over 1336 bytes of payload got out: pylibsrtp's 1356 bytes of RTP less the
# gateway's header and 8-byte MID extension.
PAYLOAD_AT_1400 = 1388


@dataclass
class Forwarded:
    largest_payload: int  # of the publisher's packets still in the NACK cache
    packets: int  # sent to the viewers
    dropped: int  # by the viewers' outputs (congested, or SRTP could not protect them)


def video_forwarded(node: Node, stream: str) -> Forwarded:
    publication = node.gateway.publication(stream)
    assert publication is not None, f"{stream} is not published"
    producer = publication.producers["video"]
    cached = (producer.cached(seq) for seq in range(1 << 16))
    largest = max((len(p.payload) for p in cached if p is not None), default=0)
    consumers = [s for s in producer.sinks if isinstance(s, Consumer)]
    return Forwarded(
        largest,
        sum(c.packets_sent for c in consumers),
        sum(c.dropped for c in consumers),
    )
