"""Pure codec bitstream reading shared by the gateway, the recorder and the agents:
keyframe markers and picture sizes. No I/O, no dependencies."""

from .h264 import annexb_sps, picture_size, sps_size, vp8_size
from .vp8 import vp8_descriptor

__all__ = ["annexb_sps", "picture_size", "sps_size", "vp8_descriptor", "vp8_size"]
