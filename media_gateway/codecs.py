"""Codec description and matching between a publisher's and a viewer's negotiation."""

from __future__ import annotations

from dataclasses import dataclass, field

# What the gateway relays and records. PCMU/PCMA and VP9/AV1 are not offered.
SUPPORTED_MIME = frozenset({"video/vp8", "video/h264", "audio/opus"})
RTX_MIME = "video/rtx"


@dataclass(frozen=True)
class CodecInfo:
    mime: str  # lower-case, e.g. "video/vp8"
    clock_rate: int
    channels: int | None = None
    parameters: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def kind(self) -> str:
        return self.mime.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.mime.split("/", 1)[1].upper()


def h264_profile(parameters: dict[str, str]) -> str:
    """The profile_idc + constraint byte of profile-level-id; the level may differ."""
    pli = str(parameters.get("profile-level-id", "42001f")).lower()
    return pli[:4]


def codec_matches(publisher: CodecInfo, mime: str, clock_rate: int, params: dict[str, str]) -> bool:
    """Can a viewer that offered (mime, clock_rate, params) take the publisher's bitstream as is?"""
    if mime.lower() != publisher.mime or clock_rate != publisher.clock_rate:
        return False
    if publisher.mime == "video/h264":
        mode = str(params.get("packetization-mode", "0"))
        if mode != str(publisher.parameters.get("packetization-mode", "0")):
            return False
        # Constrained baseline (42e0) and baseline (4200) decode each other's streams
        # in every WebRTC stack we know; other profiles must match exactly.
        pub, sub = h264_profile(publisher.parameters), h264_profile(params)
        baseline = {"42e0", "4200", "42c0"}
        return pub == sub or (pub in baseline and sub in baseline)
    return True
