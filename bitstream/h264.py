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


# ---- Annex B for passthrough (camera agents): AVCC to start codes, parameter sets ----

START_CODE = b"\x00\x00\x00\x01"
NAL_IDR, NAL_SPS, NAL_PPS = 5, 7, 8


def annexb_nals(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (3- or 4-byte start codes), headers kept."""
    nals = []
    for part in data.split(b"\x00\x00\x01"):
        part = part.rstrip(b"\x00")
        if part:
            nals.append(part)
    return nals


def nal_types(annexb: bytes) -> list[int]:
    return [n[0] & 0x1F for n in annexb_nals(annexb)]


def avcc_parameter_sets(avcc: bytes) -> tuple[int, bytes]:
    """(NAL length size, SPS and PPS as Annex B) from an avcC box (MP4/MKV extradata)."""
    if len(avcc) < 7 or avcc[0] != 1:
        raise ValueError("not an avcC record")
    length_size = (avcc[4] & 3) + 1
    out, pos = bytearray(), 5
    for count_mask in (0x1F, 0xFF):  # SPS count has 5 bits, PPS count 8
        count = avcc[pos] & count_mask
        pos += 1
        for _ in range(count):
            size = int.from_bytes(avcc[pos : pos + 2], "big")
            nal = avcc[pos + 2 : pos + 2 + size]
            if len(nal) != size:
                raise ValueError("truncated avcC record")
            out += START_CODE + nal
            pos += 2 + size
    return length_size, bytes(out)


def length_prefixed_to_annexb(data: bytes, length_size: int = 4) -> bytes:
    """AVCC samples (each NAL preceded by its big-endian length) as Annex B."""
    out, pos = bytearray(), 0
    while pos + length_size <= len(data):
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise ValueError("bad NAL length in an AVCC sample")
        out += START_CODE + data[pos : pos + size]
        pos += size
    if pos != len(data):
        raise ValueError("trailing bytes in an AVCC sample")
    return bytes(out)


def with_parameter_sets(annexb: bytes, parameter_sets: bytes) -> bytes:
    """An access unit with SPS/PPS in front of its IDR slice when it has none of its own."""
    types = nal_types(annexb)
    if NAL_IDR not in types or NAL_SPS in types or not parameter_sets:
        return annexb
    return parameter_sets + annexb


def parameter_sets_of(annexb: bytes) -> bytes:
    """The SPS and PPS NAL units an access unit carries (Annex B, empty when none)."""
    sets = [n for n in annexb_nals(annexb) if n[0] & 0x1F in (NAL_SPS, NAL_PPS)]
    return b"".join(START_CODE + n for n in sets)
