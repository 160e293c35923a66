"""The gateway's DTLS role follows the offer's a=setup (RFC 5763 / RFC 8842).

actpass: the gateway answers passive (it is the DTLS server and picks the suite);
passive (FFmpeg's WHIP muxer by default): it must answer active; active: passive.
The handshakes themselves are exercised with real FFmpeg and GStreamer peers in
test_interop_ffmpeg.py and test_interop_gstreamer.py.
"""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from .conftest import Node
from .peers import EncodedVideoTrack, encode_vp8, whip_or_whep


@pytest.mark.parametrize(
    ("offered", "answered"),
    [("actpass", "passive"), ("passive", "active"), ("active", "passive")],
)
async def test_the_answer_takes_the_dtls_role_the_offer_leaves(
    node: Node, offered: str, answered: str
) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver(EncodedVideoTrack(encode_vp8(1)), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp.replace("a=setup:actpass", f"a=setup:{offered}")
        status, answer, location = await whip_or_whep(
            node.whip("dtls-role"), node.token("dtls-role"), offer
        )
        assert status == 201, answer
        assert re.findall(r"^a=setup:(\w+)\r?$", answer, re.M) == [answered]
        assert location is not None
        auth = {"Authorization": f"Bearer {node.token('dtls-role')}"}
        async with aiohttp.ClientSession() as http, http.delete(location, headers=auth) as r:
            assert r.status == 200
    finally:
        await pc.close()
