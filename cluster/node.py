"""Node identity: who this gateway process is within a cluster."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    node_id: str
    public_url: str

    @staticmethod
    def default_id() -> str:
        return f"{socket.gethostname()}-{os.getpid()}"
