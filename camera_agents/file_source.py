"""A file (MP4, MKV) as a camera: looped, H.264 passed through, paced in real time.
For rehearsals and tests."""

from __future__ import annotations

from pathlib import Path

import av

from .passthrough import Backoff, PassthroughSource, SourceError


class FileSource(PassthroughSource):
    kind_name = "file"
    realtime = True
    loop_input = True

    def __init__(
        self, camera: str, path: str | Path, audio: bool = True, backoff: Backoff | None = None
    ) -> None:
        super().__init__(camera, audio, backoff)
        self.path = Path(path)

    @property
    def description(self) -> str:
        return f"file:{self.path}"

    def _open(self) -> av.container.InputContainer:
        try:
            return av.open(str(self.path))
        except (av.FFmpegError, OSError) as exc:
            raise SourceError(f"cannot open {self.path}: {getattr(exc, 'strerror', exc)}") from None
