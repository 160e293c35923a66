"""Simulcast in SDP (RFC 8851 rid, RFC 8853 simulcast): what an offer sends, and the
lines our answer adds. aiortc's SDP parser ignores a=rid and a=simulcast, so we read the
offer's text and add the receive side to the answer's text.

Layers are taken in the offer's a=simulcast order, lowest first: browsers list the
encodings of sendEncodings in order, and WHIP publishers send low to high (as mediasoup
assumes). The last rid is the highest layer: the one the recorder and relays take.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MAX_LAYERS = 3


@dataclass
class SimulcastOffer:
    """One m-section that sends simulcast: its rids, lowest first, and the offered ids
    of the rid header extensions (both needed to tell the layers' packets apart)."""

    mid: str
    rids: list[str]
    extensions: dict[str, int] = field(default_factory=dict)


def _sections(sdp: str) -> list[list[str]]:
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)
    return sections


def offered_simulcast(offer_sdp: str) -> dict[str, SimulcastOffer]:
    """The offer's sending simulcast sections by mid; a section needs a=simulcast:send
    with at least two rids declared `send`, and the rtp-stream-id extension."""
    found: dict[str, SimulcastOffer] = {}
    for section in _sections(offer_sdp)[1:]:
        mid = ""
        send_rids: set[str] = set()
        order: list[str] = []
        extensions: dict[str, int] = {}
        for line in section:
            if line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=rid:"):
                parts = line[6:].split()
                if len(parts) >= 2 and parts[1] == "send":
                    send_rids.add(parts[0])
            elif line.startswith("a=simulcast:"):
                parts = line[12:].split()
                if len(parts) >= 2 and parts[0] == "send":
                    # "q;h;f", alternatives "q,r;h": the first of each; "~q": paused
                    order = [s.split(",")[0].lstrip("~") for s in parts[1].split(";")]
            elif line.startswith("a=extmap:"):
                head, _, rest = line[9:].partition(" ")
                uri = rest.split()[0] if rest else ""
                if uri in (RID_URI, REPAIRED_RID_URI) and head.split("/")[0].isdigit():
                    extensions[uri] = int(head.split("/")[0])
        rids = [r for r in order if r in send_rids][:MAX_LAYERS]
        if mid and len(rids) >= 2 and RID_URI in extensions:
            found[mid] = SimulcastOffer(mid, rids, extensions)
    return found


def answer_with_simulcast(answer_sdp: str, offers: dict[str, SimulcastOffer]) -> str:
    """The answer with a=rid:<rid> recv and a=simulcast:recv for each simulcast section
    we take (a sender whose answer lacks them sends its first encoding only)."""
    if not offers:
        return answer_sdp
    out: list[str] = []
    for section in _sections(answer_sdp):
        mid = next((line[6:].strip() for line in section if line.startswith("a=mid:")), "")
        out.extend(section)
        offer = offers.get(mid)
        if offer is not None and section[0].startswith("m="):
            out.extend(f"a=rid:{rid} recv" for rid in offer.rids)
            out.append("a=simulcast:recv " + ";".join(offer.rids))
    return "\r\n".join(out) + "\r\n"
