"""FFmpeg's own WHIP muxer (FFmpeg 8.1, inside PyAV's wheel) publishes to the gateway.

The publisher is tests/interop/ffmpeg_whip.py in a child process (PyAV holds the GIL
through the whole WHIP/ICE/DTLS handshake, so it cannot share the gateway's
interpreter); a WHEP viewer on aiortc decodes what the gateway forwards.

FFmpeg offers `a=setup:passive` unless told `whip_flags=dtls_active`: by default the
gateway is the DTLS client. FFmpeg's muxer does H.264 (baseline) and Opus only.
"""

from __future__ import annotations

import asyncio
import datetime
import sys
import time
from pathlib import Path

import av
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from .conftest import Node, require_or_skip
from .forwarded import video_forwarded
from .peers import Viewer

PUBLISHER = Path(__file__).parent / "interop" / "ffmpeg_whip.py"
SECONDS = 6  # of media FFmpeg sends once connected


@pytest.fixture(autouse=True)
def _ffmpeg_whip_muxer() -> None:
    require_or_skip(
        "whip" in av.formats_available,
        f"PyAV's FFmpeg ({av.library_versions['libavformat']}) has no whip muxer",
        "VDISPATCH_REQUIRE_INTEROP",
    )


def _certificate(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A self-signed certificate and key in PEM files, as a user would give FFmpeg."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "ecdsa":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ffmpeg-whip")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{kind}.crt", tmp_path / f"{kind}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class FFmpegPublisher:
    def __init__(self, url: str, token: str, *args: str | Path) -> None:
        self.argv = [sys.executable, str(PUBLISHER), url, token, "--seconds", str(SECONDS)]
        self.argv += [str(a) for a in args]
        self.proc: asyncio.subprocess.Process | None = None
        self.output = b""

    async def __aenter__(self) -> FFmpegPublisher:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        return self

    async def wait(self, timeout: float = SECONDS + 30) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        self.output += await asyncio.wait_for(self.proc.stdout.read(), timeout)
        return await self.proc.wait()

    def log(self) -> str:
        return self.output.decode(errors="replace")[-4000:]

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


def _video_packets(node: Node, stream: str) -> int:
    publication = node.gateway.publication(stream)
    video = publication.producers.get("video") if publication is not None else None
    return video.packets if video is not None else 0


async def _wait_live(node: Node, stream: str, publisher: FFmpegPublisher) -> None:
    """Until the gateway receives FFmpeg's video (ICE and DTLS done), or FFmpeg gave up."""
    deadline = time.monotonic() + 20
    while _video_packets(node, stream) == 0:
        assert publisher.proc is not None
        if publisher.proc.returncode is not None or time.monotonic() > deadline:
            await publisher.wait()
            raise AssertionError(f"FFmpeg never went live:\n{publisher.log()}")
        await asyncio.sleep(0.1)


async def _publish_and_view(
    node: Node, stream: str, *args: str | Path, audio: bool = False, largest: int = 0
) -> None:
    async with FFmpegPublisher(node.whip(stream), node.token(stream), *args) as publisher:
        await _wait_live(node, stream, publisher)
        viewer = Viewer(node.whep(stream), node.token(stream, "viewer"), audio=audio)
        try:
            await viewer.start()
            await viewer.wait_frames(60, timeout=15)
            await asyncio.sleep(0.5)
            assert viewer.decoded >= 45, f"{viewer.decoded} of {len(viewer.frames)} decoded"
            info = next(s for s in node.gateway.streams() if s.stream_id == stream)
            assert info.video_codec == "H264"
            if largest:  # every packet forwarded, the muxer's largest too
                forwarded = video_forwarded(node, stream)
                assert forwarded.largest_payload == largest
                assert forwarded.packets > 0 and forwarded.dropped == 0
            if audio:
                assert info.audio_codec == "OPUS"
                publication = node.gateway.publication(stream)
                assert publication is not None
                assert publication.producers["audio"].packets > 0
        finally:
            await viewer.close()
        status = await publisher.wait()
        assert status == 0, publisher.log()
    # FFmpeg DELETEs its resource when the muxer closes.
    deadline = time.monotonic() + 5
    while node.gateway.publication(stream) is not None:
        assert time.monotonic() < deadline, "the stream outlived FFmpeg's DELETE"
        await asyncio.sleep(0.1)


async def test_ffmpeg_h264_and_opus_reach_a_viewer(node: Node, tmp_path: Path) -> None:
    # Offer a=setup:passive: the gateway is the DTLS client.
    cert, key = _certificate(tmp_path, "ecdsa")
    await _publish_and_view(node, "ff-av", "--audio", "--cert", cert, "--key", key, audio=True)


async def test_ffmpeg_with_an_rsa_certificate_when_the_gateway_is_dtls_client(
    node: Node, tmp_path: Path
) -> None:
    # aiortc's client hello offers ECDHE-ECDSA suites only; an RSA server needs ECDHE-RSA.
    cert, key = _certificate(tmp_path, "rsa")
    await _publish_and_view(node, "ff-rsa", "--cert", cert, "--key", key)


async def test_ffmpeg_as_dtls_client(node: Node, tmp_path: Path) -> None:
    # whip_flags=dtls_active: FFmpeg offers a=setup:active, the gateway is the DTLS server.
    cert, key = _certificate(tmp_path, "ecdsa")
    await _publish_and_view(node, "ff-active", "--dtls-active", "--cert", cert, "--key", key)


@pytest.mark.parametrize("pkt_size", [1400, 1500])
async def test_ffmpeg_with_large_packets(node: Node, tmp_path: Path, pkt_size: int) -> None:
    # pkt_size bounds the SRTP packet: FFmpeg keeps 16 bytes for the auth tag, so at 1400
    # its RTP is up to 1384 bytes, too long for pylibsrtp's own protect buffer (1356 bytes
    # of RTP) once the gateway adds its MID extension. At 1500 (1484 bytes of RTP) the
    # gateway leaves MID out of those packets, or the viewer's pylibsrtp (1500-byte
    # receive buffer) would refuse them.
    cert, key = _certificate(tmp_path, "ecdsa")
    args = ("--pkt-size", str(pkt_size), "--cert", cert, "--key", key)
    await _publish_and_view(node, f"ff-{pkt_size}", *args, largest=pkt_size - 16 - 12)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "FFmpeg's GnuTLS backend (the one in PyAV's wheel) makes its own certificate on "
        "secp224r1 (gnutls_sec_param_to_pk_bits(ECDSA, MEDIUM) = 224). OpenSSL 4, which "
        "cryptography/pyOpenSSL bundle for aiortc, has RFC 8422's deprecated curves "
        "compiled out of TLS and aborts with illegal_parameter in either DTLS role; "
        "OpenSSL 3 does too unless P-224 is in its groups list. Give FFmpeg a P-256 or "
        "RSA certificate (cert_file/key_file) instead."
    ),
)
async def test_ffmpeg_with_its_own_certificate(node: Node) -> None:
    await _publish_and_view(node, "ff-default")
