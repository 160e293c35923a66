"""WHIP/WHEP over HTTP exactly as CONTRACT.md section 2 promises: every status, and
every error body a short plain-text reason."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jwt
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack
from signaling import TokenIssuer
from vdispatch.settings import load_settings

from .conftest import Node
from .peers import prefer_codecs

SDP = "application/sdp"
KIND_ROLE = {"whip": "station", "whep": "viewer"}
BOTH = pytest.mark.parametrize("kind", ["whip", "whep"])


@dataclass
class Answer:
    status: int
    text: str
    content_type: str
    headers: dict[str, str]


async def _request(
    method: str,
    url: str,
    token: str | None = None,
    body: bytes | str | None = None,
    content_type: str | None = SDP,
    authorization: str | None = None,
    chunked: bool = False,
) -> Answer:
    headers: dict[str, str] = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data: object = body
    if chunked and body is not None:
        raw = body.encode() if isinstance(body, str) else body

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(raw), 8192):
                yield raw[i : i + 8192]

        data = chunks()
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, data=data, headers=headers) as resp,
    ):
        return Answer(resp.status, await resp.text(), resp.content_type, dict(resp.headers))


def assert_reason(answer: Answer, status: int, *words: str) -> None:
    """The status, and a body that is one short line of plain text."""
    assert answer.status == status, f"expected {status}, got {answer.status}: {answer.text!r}"
    assert answer.content_type == "text/plain", answer.content_type
    reason = answer.text.strip()
    assert reason, "empty reason"
    assert len(reason) < 300, reason
    assert "\n" not in reason, reason
    lowered = reason.lower()
    assert "<html" not in lowered and "traceback" not in lowered, reason
    for word in words:
        assert word.lower() in lowered, f"{word!r} not in {reason!r}"


def _expired(tmp_path: Path, stream: str, role: str) -> str:
    """A token signed with the node's own secret whose expiry passed an hour ago."""
    secret = load_settings(data_dir=tmp_path / "var").token_secret()
    past = int(time.time()) - 3600
    claims = {
        "iss": "vdispatch",
        "iat": past - 600,
        "exp": past,
        "jti": "expired-token",
        "role": role,
        "streams": [stream],
    }
    return jwt.encode(claims, secret, algorithm="HS256")


class Offers:
    """Real aiortc offers (kept open until the test ends)."""

    def __init__(self) -> None:
        self.pcs: list[RTCPeerConnection] = []

    async def make(
        self,
        video: str | None = "sendonly",
        audio: str | None = None,
        video_codecs: list[str] | None = None,
        audio_codecs: list[str] | None = None,
    ) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pcs.append(pc)
        if video:
            t = pc.addTransceiver("video", direction=video)
            if video_codecs:
                prefer_codecs(t, video_codecs)
        if audio:
            t = pc.addTransceiver("audio", direction=audio)
            if audio_codecs:
                prefer_codecs(t, audio_codecs)
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)

    async def close(self) -> None:
        for pc in self.pcs:
            await pc.close()


@pytest.fixture
async def offers() -> AsyncIterator[Offers]:
    o = Offers()
    try:
        yield o
    finally:
        await o.close()


def _munge_video_to_vp9(sdp: str) -> str:
    """Rename the only video codec of an offer to VP9 (which the gateway refuses)."""
    assert "VP8/90000" in sdp
    return sdp.replace("VP8/90000", "VP9/90000")


async def _go_live(node: Node, offers: Offers, stream: str) -> Answer:
    """Publish `stream` from an offer that never connects: the stream is live at once."""
    answer = await _request(
        "POST", node.whip(stream), node.token(stream), await offers.make(video="sendonly")
    )
    assert answer.status == 201, answer.text
    return answer


def _resource_url(node: Node, answer: Answer) -> str:
    return node.url + answer.headers["Location"]


async def _streams(node: Node) -> list[str]:
    token = node.tokens.mint(["*"], "viewer", 60)
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{node.url}/api/streams", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        assert r.status == 200
        return [s["id"] for s in (await r.json())["streams"]]


# ---------------------------------------------------------------- 400 stream id


@BOTH
@pytest.mark.parametrize("stream", ["Bad_ID", "-x", "_x", "a" * 65, "CAM1", "cam.1", "cam%201"])
async def test_an_invalid_stream_id_is_a_400(node: Node, kind: str, stream: str) -> None:
    token = node.tokens.mint(["*"], "viewer", 60) if kind == "whep" else node.token("cam1")
    answer = await _request("POST", f"{node.url}/{kind}/{stream}", token, "v=0\r\n")
    assert_reason(answer, 400, "stream id")


@pytest.mark.parametrize("layer", ["medium", "", "HIGH"])
async def test_a_whep_layer_other_than_low_high_auto_is_a_400(node: Node, layer: str) -> None:
    token = node.token("cam1", "viewer")
    answer = await _request("POST", f"{node.url}/whep/cam1?layer={layer}", token, "v=0\r\n")
    assert_reason(answer, 400, "layer must be one of low, high, auto")


@BOTH
async def test_deleting_with_an_invalid_stream_id_is_a_400(node: Node, kind: str) -> None:
    answer = await _request("DELETE", f"{node.url}/{kind}/Bad_ID/abc", node.token("cam1"))
    assert_reason(answer, 400, "stream id")


# ---------------------------------------------------------------- 401


@BOTH
async def test_a_request_without_a_token_is_a_401(node: Node, kind: str) -> None:
    answer = await _request("POST", f"{node.url}/{kind}/cam1", None, "v=0\r\n")
    assert_reason(answer, 401, "authorization")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


@BOTH
@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "token abc"])
async def test_a_malformed_authorization_header_is_a_401(
    node: Node, kind: str, header: str
) -> None:
    answer = await _request("POST", f"{node.url}/{kind}/cam1", body="v=0\r\n", authorization=header)
    assert_reason(answer, 401)


@BOTH
async def test_a_token_that_is_not_a_jwt_is_a_401(node: Node, kind: str) -> None:
    answer = await _request("POST", f"{node.url}/{kind}/cam1", "not.a.jwt", "v=0\r\n")
    assert_reason(answer, 401, "invalid token")


@BOTH
async def test_a_token_signed_with_another_secret_is_a_401(node: Node, kind: str) -> None:
    forged = TokenIssuer(b"f" * 32).mint(["cam1"], KIND_ROLE[kind], 600)  # type: ignore[arg-type]
    answer = await _request("POST", f"{node.url}/{kind}/cam1", forged, "v=0\r\n")
    assert_reason(answer, 401, "invalid token")


@BOTH
async def test_an_expired_token_is_a_401(node: Node, kind: str, tmp_path: Path) -> None:
    answer = await _request(
        "POST", f"{node.url}/{kind}/cam1", _expired(tmp_path, "cam1", KIND_ROLE[kind]), "v=0\r\n"
    )
    assert_reason(answer, 401, "expired")


# ---------------------------------------------------------------- 403


@BOTH
async def test_a_token_for_another_stream_is_a_403(node: Node, kind: str) -> None:
    token = node.token("cam2", KIND_ROLE[kind])
    answer = await _request("POST", f"{node.url}/{kind}/cam1", token, "v=0\r\n")
    assert_reason(answer, 403, "cam1")


async def test_a_viewer_token_cannot_publish(node: Node) -> None:
    answer = await _request("POST", node.whip("cam1"), node.token("cam1", "viewer"), "v=0\r\n")
    assert_reason(answer, 403, "publish")


async def test_a_viewer_wildcard_token_cannot_publish(node: Node) -> None:
    token = node.tokens.mint(["*"], "viewer", 60)
    answer = await _request("POST", node.whip("cam1"), token, "v=0\r\n")
    assert_reason(answer, 403, "publish")


async def test_a_station_token_cannot_view(node: Node, offers: Offers) -> None:
    await _go_live(node, offers, "cam1")
    answer = await _request(
        "POST", node.whep("cam1"), node.token("cam1"), await offers.make(video="recvonly")
    )
    assert_reason(answer, 403, "subscribe")


@BOTH
async def test_deleting_needs_the_grant_for_the_stream(node: Node, kind: str) -> None:
    assert_reason(await _request("DELETE", f"{node.url}/{kind}/cam1/abc"), 401)
    other = node.token("cam2", KIND_ROLE[kind])
    assert_reason(await _request("DELETE", f"{node.url}/{kind}/cam1/abc", other), 403)


async def test_a_station_cannot_stop_a_viewer_nor_a_viewer_a_publisher(
    node: Node, offers: Offers
) -> None:
    published = await _go_live(node, offers, "cam1")
    answer = await _request("DELETE", _resource_url(node, published), node.token("cam1", "viewer"))
    assert_reason(answer, 403)
    assert await _streams(node) == ["cam1"]


# ---------------------------------------------------------------- auth before body


@BOTH
async def test_authorization_is_checked_before_the_content_type(node: Node, kind: str) -> None:
    answer = await _request(
        "POST", f"{node.url}/{kind}/cam1", None, b"\x00\xff garbage", content_type="text/html"
    )
    assert_reason(answer, 401)


@BOTH
async def test_a_forbidden_caller_gets_403_whatever_it_sent(node: Node, kind: str) -> None:
    wrong_role = "viewer" if kind == "whip" else "station"
    answer = await _request(
        "POST",
        f"{node.url}/{kind}/cam1",
        node.token("cam1", wrong_role),
        b"\x00\xff garbage",
        content_type="application/json",
    )
    assert_reason(answer, 403)


@BOTH
async def test_authorization_is_checked_before_the_body_size(node: Node, kind: str) -> None:
    answer = await _request("POST", f"{node.url}/{kind}/cam1", None, b"v" * (200 * 1024))
    assert_reason(answer, 401)


# ---------------------------------------------------------------- 415


@BOTH
@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "application/sdp2"])
async def test_a_wrong_content_type_is_a_415(node: Node, kind: str, content_type: str) -> None:
    token = node.token("cam1", KIND_ROLE[kind])
    answer = await _request(
        "POST", f"{node.url}/{kind}/cam1", token, "v=0\r\n", content_type=content_type
    )
    assert_reason(answer, 415, SDP)


@BOTH
async def test_a_missing_content_type_is_a_415(node: Node, kind: str) -> None:
    token = node.token("cam1", KIND_ROLE[kind])
    answer = await _request("POST", f"{node.url}/{kind}/cam1", token, b"v=0\r\n", content_type=None)
    assert_reason(answer, 415, SDP)


@pytest.mark.parametrize("content_type", ["application/sdp; charset=utf-8", "Application/SDP"])
async def test_content_type_parameters_and_case_are_accepted(
    node: Node, offers: Offers, content_type: str
) -> None:
    answer = await _request(
        "POST",
        node.whip("cam1"),
        node.token("cam1"),
        await offers.make(),
        content_type=content_type,
    )
    assert answer.status == 201, answer.text


# ---------------------------------------------------------------- 413


@BOTH
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_64_kib_is_a_413(node: Node, kind: str, chunked: bool) -> None:
    token = node.token("cam1", KIND_ROLE[kind])
    body = "v=0\r\n" + "a=x\r\n" * (64 * 1024 // 5)
    assert len(body.encode()) > 64 * 1024
    answer = await _request("POST", f"{node.url}/{kind}/cam1", token, body, chunked=chunked)
    assert_reason(answer, 413, "larger")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_of_exactly_64_kib_is_not_too_large(node: Node, chunked: bool) -> None:
    body = ("v=0\r\n" + "x" * 64 * 1024)[: 64 * 1024]
    answer = await _request("POST", node.whip("cam1"), node.token("cam1"), body, chunked=chunked)
    assert_reason(answer, 400)


async def _trickled(node: Node, offer: str, content_length: bool) -> Answer:
    """POST an offer in pieces with pauses between them, as a slow network delivers it."""
    raw = offer.encode()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 500):
            yield raw[i : i + 500]
            await asyncio.sleep(0.02)

    headers = {"Content-Type": SDP, "Authorization": f"Bearer {node.token('cam1')}"}
    if content_length:
        headers["Content-Length"] = str(len(raw))
    async with (
        aiohttp.ClientSession() as http,
        http.post(node.whip("cam1"), data=pieces(), headers=headers) as resp,
    ):
        return Answer(resp.status, await resp.text(), resp.content_type, dict(resp.headers))


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
async def test_an_offer_arriving_in_pieces_is_read_whole(
    node: Node, offers: Offers, content_length: bool
) -> None:
    offer = await offers.make(video="sendonly", audio="sendonly")
    assert len(offer) > 1500
    answer = await _trickled(node, offer, content_length)
    assert answer.status == 201, answer.text
    assert await _streams(node) == ["cam1"]


# ---------------------------------------------------------------- 400 SDP


@pytest.mark.parametrize(
    "body",
    [b"v=0\r\nnonsense", b"hello", b"", b"\xff\xfe\x00v=0", b"v=0\r\nm=video\r\n"],
    ids=["nonsense", "not-sdp", "empty", "not-utf8", "bad-m-line"],
)
async def test_an_unparsable_offer_is_a_400_for_whip(node: Node, body: bytes) -> None:
    answer = await _request("POST", node.whip("cam1"), node.token("cam1"), body)
    assert_reason(answer, 400)
    assert await _streams(node) == []


@pytest.mark.parametrize(
    "body",
    [b"v=0\r\nnonsense", b"hello", b"", b"\xff\xfe\x00v=0", b"v=0\r\nm=video\r\n"],
    ids=["nonsense", "not-sdp", "empty", "not-utf8", "bad-m-line"],
)
async def test_an_unparsable_offer_is_a_400_for_whep(
    node: Node, offers: Offers, body: bytes
) -> None:
    await _go_live(node, offers, "cam1")
    answer = await _request("POST", node.whep("cam1"), node.token("cam1", "viewer"), body)
    assert_reason(answer, 400)


async def test_a_publish_offer_whose_only_video_codec_is_vp9_is_a_400(
    node: Node, offers: Offers
) -> None:
    offer = _munge_video_to_vp9(await offers.make(video_codecs=["video/VP8"]))
    answer = await _request("POST", node.whip("cam1"), node.token("cam1"), offer)
    assert_reason(answer, 400, "codec")
    assert await _streams(node) == []


async def test_a_publish_offer_whose_only_audio_codec_is_pcmu_is_a_400(
    node: Node, offers: Offers
) -> None:
    offer = await offers.make(video=None, audio="sendonly", audio_codecs=["audio/PCMU"])
    assert "PCMU/8000" in offer and "opus" not in offer
    answer = await _request("POST", node.whip("cam1"), node.token("cam1"), offer)
    assert_reason(answer, 400, "opus")
    assert await _streams(node) == []


async def test_a_publish_offer_with_one_usable_track_is_accepted(
    node: Node, offers: Offers
) -> None:
    offer = await offers.make(
        video="sendonly", audio="sendonly", video_codecs=["video/VP8"], audio_codecs=["audio/PCMU"]
    )
    answer = await _request("POST", node.whip("cam1"), node.token("cam1"), offer)
    assert answer.status == 201, answer.text
    [info] = node.gateway.streams()
    assert info.video_codec == "VP8"
    assert info.audio_codec is None


async def test_a_view_offer_whose_only_video_codec_is_vp9_is_a_400(
    node: Node, offers: Offers
) -> None:
    await _go_live(node, offers, "cam1")
    offer = _munge_video_to_vp9(await offers.make(video="recvonly", video_codecs=["video/VP8"]))
    answer = await _request("POST", node.whep("cam1"), node.token("cam1", "viewer"), offer)
    assert_reason(answer, 400, "codec")


async def test_a_view_offer_that_only_sends_is_a_400(node: Node, offers: Offers) -> None:
    await _go_live(node, offers, "cam1")
    offer = await offers.make(video="sendonly")
    answer = await _request("POST", node.whep("cam1"), node.token("cam1", "viewer"), offer)
    assert_reason(answer, 400)


async def test_a_publish_offer_that_only_receives_is_a_400(node: Node, offers: Offers) -> None:
    offer = await offers.make(video="recvonly")
    answer = await _request("POST", node.whip("cam1"), node.token("cam1"), offer)
    assert_reason(answer, 400)
    assert await _streams(node) == []


# ---------------------------------------------------------------- 409, 404


async def test_a_second_publisher_on_a_live_stream_is_a_409(node: Node, offers: Offers) -> None:
    first = await _go_live(node, offers, "cam1")
    answer = await _request("POST", node.whip("cam1"), node.token("cam1"), await offers.make())
    assert_reason(answer, 409, "already published")
    assert node.gateway.streams()[0].resource_id == first.headers["Location"].rsplit("/", 1)[1]


async def test_of_two_simultaneous_publishers_one_wins_and_the_other_gets_409(
    node: Node, offers: Offers
) -> None:
    first, second = await offers.make(), await offers.make()
    answers = await asyncio.gather(
        _request("POST", node.whip("cam1"), node.token("cam1"), first),
        _request("POST", node.whip("cam1"), node.token("cam1"), second),
    )
    assert sorted(a.status for a in answers) == [201, 409]
    assert_reason(next(a for a in answers if a.status == 409), 409)
    assert await _streams(node) == ["cam1"]


async def test_viewing_a_stream_that_is_not_live_is_a_404(node: Node, offers: Offers) -> None:
    answer = await _request(
        "POST",
        node.whep("cam1"),
        node.token("cam1", "viewer"),
        await offers.make(video="recvonly"),
    )
    assert_reason(answer, 404, "not live")


@BOTH
async def test_deleting_an_unknown_resource_is_a_404(node: Node, kind: str) -> None:
    token = node.token("cam1", KIND_ROLE[kind])
    answer = await _request("DELETE", f"{node.url}/{kind}/cam1/0123456789abcdef", token)
    assert_reason(answer, 404)


@BOTH
async def test_deleting_an_unknown_resource_of_a_live_stream_is_a_404(
    node: Node, offers: Offers, kind: str
) -> None:
    await _go_live(node, offers, "cam1")
    token = node.token("cam1", KIND_ROLE[kind])
    answer = await _request("DELETE", f"{node.url}/{kind}/cam1/0123456789abcdef", token)
    assert_reason(answer, 404)
    assert await _streams(node) == ["cam1"]


async def test_a_publishing_resource_cannot_be_deleted_as_a_viewing_one(
    node: Node, offers: Offers
) -> None:
    published = await _go_live(node, offers, "cam1")
    resource = published.headers["Location"].rsplit("/", 1)[1]
    answer = await _request(
        "DELETE", f"{node.url}/whep/cam1/{resource}", node.token("cam1", "viewer")
    )
    assert_reason(answer, 404)
    assert await _streams(node) == ["cam1"]


async def test_a_resource_of_one_stream_cannot_be_deleted_through_another(
    node: Node, offers: Offers
) -> None:
    published = await _go_live(node, offers, "cam1")
    resource = published.headers["Location"].rsplit("/", 1)[1]
    token = node.tokens.mint(["cam2"], "station", 60)
    answer = await _request("DELETE", f"{node.url}/whip/cam2/{resource}", token)
    assert_reason(answer, 404)
    assert await _streams(node) == ["cam1"]


# ---------------------------------------------------------------- success


async def test_a_successful_publish_answers_201_with_location_and_sdp(
    node: Node, offers: Offers
) -> None:
    answer = await _go_live(node, offers, "cam-1_north")
    assert answer.content_type == SDP
    assert answer.text.startswith("v=0")
    assert re.fullmatch(r"/whip/cam-1_north/[A-Za-z0-9_-]+", answer.headers["Location"])
    assert await _streams(node) == ["cam-1_north"]


async def test_a_successful_view_answers_201_with_location_and_sdp(
    node: Node, offers: Offers
) -> None:
    await _go_live(node, offers, "cam1")
    answer = await _request(
        "POST",
        node.whep("cam1"),
        node.token("cam1", "viewer"),
        await offers.make(video="recvonly"),
    )
    assert answer.status == 201, answer.text
    assert answer.content_type == SDP
    assert answer.text.startswith("v=0")
    assert re.fullmatch(r"/whep/cam1/[A-Za-z0-9_-]+", answer.headers["Location"])


async def test_a_viewer_wildcard_token_may_view_any_stream(node: Node, offers: Offers) -> None:
    await _go_live(node, offers, "cam1")
    answer = await _request(
        "POST",
        node.whep("cam1"),
        node.tokens.mint(["*"], "viewer", 60),
        await offers.make(video="recvonly"),
    )
    assert answer.status == 201, answer.text


async def test_deleting_a_live_publication_ends_the_stream(node: Node) -> None:
    publisher = WhipPublisher(
        node.whip("cam1"), node.token("cam1"), [PatternTrack("cam1", width=320, height=240)]
    )
    await publisher.start()
    try:
        assert await _streams(node) == ["cam1"]
        assert publisher.resource_url is not None
        answer = await _request("DELETE", publisher.resource_url, node.token("cam1"))
        assert answer.status == 200, answer.text
        assert await _streams(node) == []
        again = await _request("DELETE", publisher.resource_url, node.token("cam1"))
        assert_reason(again, 404)
    finally:
        await publisher.stop()


async def test_deleting_a_viewer_keeps_the_stream_live(node: Node, offers: Offers) -> None:
    await _go_live(node, offers, "cam1")
    viewed = await _request(
        "POST",
        node.whep("cam1"),
        node.token("cam1", "viewer"),
        await offers.make(video="recvonly"),
    )
    assert viewed.status == 201, viewed.text
    url = _resource_url(node, viewed)
    answer = await _request("DELETE", url, node.token("cam1", "viewer"))
    assert answer.status == 200, answer.text
    assert await _streams(node) == ["cam1"]
    assert_reason(await _request("DELETE", url, node.token("cam1", "viewer")), 404)


async def test_a_stream_can_be_published_again_after_it_was_deleted(
    node: Node, offers: Offers
) -> None:
    first = await _go_live(node, offers, "cam1")
    answer = await _request("DELETE", _resource_url(node, first), node.token("cam1"))
    assert answer.status == 200
    second = await _go_live(node, offers, "cam1")
    assert second.headers["Location"] != first.headers["Location"]


# ---------------------------------------------------------------- operational


async def test_healthz_answers_200(node: Node) -> None:
    answer = await _request("GET", f"{node.url}/healthz", content_type=None)
    assert answer.status == 200


def _api_tokens(node: Node) -> Iterator[tuple[str | None, int]]:
    yield None, 401
    yield "garbage", 401
    yield node.token("cam1", "viewer"), 403
    yield node.token("cam1", "station"), 403


async def test_listing_streams_needs_a_viewer_token_for_every_stream(node: Node) -> None:
    for token, status in _api_tokens(node):
        answer = await _request("GET", f"{node.url}/api/streams", token, content_type=None)
        assert_reason(answer, status)
    assert await _streams(node) == []
