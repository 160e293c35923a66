"""An IP camera over RTSP (TCP or UDP): H.264 passed through, audio to Opus.

Credentials come in the URL (rtsp://user:pass@host/…) or from the station config; they
are never shown: the status page, the logs and errors carry the redacted URL only, and
FFmpeg's own messages (which quote the URL) are not passed on."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import av

from .passthrough import Backoff, PassthroughSource, SourceError

TRANSPORTS = ("tcp", "udp")
OPEN_TIMEOUT = 5.0  # seconds to connect and DESCRIBE/SETUP/PLAY
READ_TIMEOUT = 3.0  # no packet for this long: the camera is gone


def redact(url: str) -> str:
    """The URL without its password (user kept: it helps the operator)."""
    parts = urlsplit(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}" if user else f"***@{host}"))


def split_transport(url: str) -> tuple[str, str | None]:
    """(url without ?transport=…, the transport it named)."""
    parts = urlsplit(url)
    query = [q for q in parts.query.split("&") if q]
    wanted = [q.split("=", 1)[1] for q in query if q.startswith("transport=")]
    rest = "&".join(q for q in query if not q.startswith("transport="))
    return urlunsplit(parts._replace(query=rest)), (wanted[-1] if wanted else None)


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    if not username:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))


class RtspSource(PassthroughSource):
    kind_name = "rtsp"

    def __init__(
        self,
        camera: str,
        url: str,
        *,
        transport: str | None = None,
        username: str | None = None,
        password: str | None = None,
        audio: bool = True,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(camera, audio, backoff)
        url, named = split_transport(url)
        self.transport = transport or named or "tcp"
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport {self.transport!r}: use tcp or udp")
        self._url = with_credentials(url, username, password)

    @property
    def description(self) -> str:
        return f"{redact(self._url)} ({self.transport})"

    def _open(self) -> av.container.InputContainer:
        options = {
            "rtsp_transport": self.transport,
            "timeout": str(int(READ_TIMEOUT * 1_000_000)),  # socket I/O, microseconds
            "fflags": "nobuffer",
            "analyzeduration": "1000000",
        }
        try:
            return av.open(self._url, options=options, timeout=(OPEN_TIMEOUT, READ_TIMEOUT))
        except (av.FFmpegError, OSError) as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> SourceError:
        """A message without the URL FFmpeg quotes (it holds the password)."""
        text = getattr(exc, "strerror", None) or type(exc).__name__
        text = re.sub(r"rtsp://\S+", lambda m: redact(unquote(m.group(0))), str(text))
        if isinstance(exc, av.HTTPUnauthorizedError) or "401" in text:
            return SourceError(f"refused: wrong user or password ({text})", slow=True)
        if isinstance(exc, av.HTTPNotFoundError) or "404" in text:
            return SourceError(f"no such stream on the camera ({text})", slow=True)
        if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
            return SourceError(f"unreachable: connection refused ({text})")
        if isinstance(exc, TimeoutError) or "timed out" in text.lower():
            return SourceError(f"unreachable: no answer ({text})")
        return SourceError(text)
