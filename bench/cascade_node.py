"""A node for bench/cascade.py: the app `vdispatch serve` builds, whose stream directory
names one holder given on the command line, so relaying is measured without Redis.

    python -P bench/cascade_node.py --port 8081 --holder node-a=http://127.0.0.1:8080

Settings come from the environment as for `vdispatch serve` (VDISPATCH_SECRET shared
with the holder). Run with -P: bench/ must not come first on sys.path.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from cluster import NodeInfo, StreamEntry
from signaling import DIRECTORY_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings


class OneHolder:
    """Every stream is held by the one other node."""

    def __init__(self, node_id: str, url: str) -> None:
        self.node_id = node_id
        self.url = url

    async def lookup(self, stream_id: str) -> StreamEntry | None:
        return StreamEntry(stream_id, self.node_id, self.url, 0.0)

    async def streams(self) -> list[StreamEntry]:
        return []

    async def nodes(self) -> list[NodeInfo]:
        return [NodeInfo(self.node_id, self.url, 0.0)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--holder", required=True, help="NODE_ID=URL")
    args = parser.parse_args()
    node_id, url = args.holder.split("=", 1)
    settings = load_settings(host="127.0.0.1", port=args.port)
    app = build_app(settings)
    app[DIRECTORY_KEY] = OneHolder(node_id, url)
    web.run_app(app, host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    main()
