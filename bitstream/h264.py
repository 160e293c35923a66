"""Just enough H.264 bitstream reading to label a segment: picture size from the SPS."""

from __future__ import annotations


def _unescape(nal: bytes) -> bytes:
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]
        b = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return b

    def bits(self, n: int) -> int:
        v = 0
        for _ in range(n):
            v = (v << 1) | self.bit()
        return v

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        v = self.ue()
        return (v + 1) // 2 if v & 1 else -(v // 2)


def _scaling_list(r: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def sps_size(sps: bytes) -> tuple[int, int]:
    """(width, height) from an SPS NAL unit (header byte included)."""
    r = _Bits(_unescape(sps[1:]))
    profile = r.bits(8)
    r.bits(16)  # constraint flags, level
    r.ue()  # sps id
    chroma = 1
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma = r.ue()
        if chroma == 3:
            r.bit()
        r.ue()
        r.ue()
        r.bit()
        if r.bit():
            for i in range(8 if chroma != 3 else 12):
                if r.bit():
                    _scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num
    poc = r.ue()
    if poc == 0:
        r.ue()
    elif poc == 1:
        r.bit()
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max refs
    r.bit()
    mbs_w = r.ue() + 1
    map_h = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()
    r.bit()
    width, height = mbs_w * 16, map_h * 16 * (2 - frame_mbs_only)
    if r.bit():  # cropping
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        cx = 2 if chroma in (1, 2) else 1
        cy = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
        width -= (left + right) * cx
        height -= (top + bottom) * cy
    return width, height


def annexb_sps(annexb: bytes) -> bytes | None:
    """The first SPS NAL unit in an Annex B access unit."""
    parts = annexb.split(b"\x00\x00\x01")
    for p in parts:
        p = p.rstrip(b"\x00")
        if p and p[0] & 0x1F == 7:
            return p
    return None


def vp8_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 keyframe."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    return (frame[6] | frame[7] << 8) & 0x3FFF, (frame[8] | frame[9] << 8) & 0x3FFF


def picture_size(mime: str, keyframe: bytes) -> tuple[int, int] | None:
    if mime == "video/vp8":
        return vp8_size(keyframe)
    if mime == "video/h264":
        sps = annexb_sps(keyframe)
        if sps is not None:
            try:
                return sps_size(sps)
            except (ValueError, IndexError):
                return None
    return None
