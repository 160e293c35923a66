"""Pure codec bitstream reading shared by the gateway, the recorder and the agents:
keyframe markers, picture sizes, Annex B for passthrough. No I/O, no dependencies."""

from .h264 import (
    annexb_nals,
    annexb_sps,
    avcc_parameter_sets,
    length_prefixed_to_annexb,
    nal_types,
    parameter_sets_of,
    picture_size,
    sps_size,
    vp8_size,
    with_parameter_sets,
)
from .vp8 import vp8_descriptor

__all__ = [
    "annexb_nals",
    "annexb_sps",
    "avcc_parameter_sets",
    "length_prefixed_to_annexb",
    "nal_types",
    "parameter_sets_of",
    "picture_size",
    "sps_size",
    "vp8_descriptor",
    "vp8_size",
    "with_parameter_sets",
]
