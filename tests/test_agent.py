"""The camera agent keeps its stream published across gateway restarts."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp.test_utils import TestServer
from aiortc import MediaStreamTrack

from camera_agents import Agent, AgentConfig, WhipError
from signaling import GATEWAY_KEY, TOKENS_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .peers import EncodedVideoTrack, encode_vp8
from .waiting import wait_for

FRAMES = encode_vp8(30, gop=15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start(tmp_path: Path, port: int) -> TestServer:
    settings = load_settings(data_dir=tmp_path, ice_addresses="127.0.0.1")
    server = TestServer(build_app(settings), host="127.0.0.1", port=port)
    await server.start_server()
    return server


async def test_agent_republishes_after_the_gateway_restarts(tmp_path: Path) -> None:
    port = _free_port()
    server = await _start(tmp_path, port)
    token = server.app[TOKENS_KEY].mint(["county-a"], "station", 600)
    attempts = 0  # the agent makes its tracks afresh for every attempt

    def tracks(config: AgentConfig) -> list[MediaStreamTrack]:
        nonlocal attempts
        attempts += 1
        return [EncodedVideoTrack(FRAMES)]

    agent = Agent(
        AgentConfig(
            gateways=[f"http://127.0.0.1:{port}"],
            stream_id="county-a",
            token=token,
            backoff_initial=0.2,
            backoff_max=1.0,
        ),
        track_factory=tracks,
    )
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.connected.wait(), 10)
        assert [s.stream_id for s in server.app[GATEWAY_KEY].streams()] == ["county-a"]
        await server.close()  # the node goes away: its peers close, the agent notices
        await wait_for(lambda: not agent.connected.is_set(), what="the agent disconnected")
        down = attempts
        # refused while it is down, the agent backs off and tries again
        await wait_for(
            lambda: attempts - down, lambda n: n >= 2, what="attempts while the gateway is down"
        )
        server = await _start(tmp_path, port)  # same data dir: same token secret
        await asyncio.wait_for(agent.connected.wait(), 15)
        assert agent.sessions == 2
        await wait_for(
            lambda: server.app[GATEWAY_KEY].streams(), what="the stream on the gateway", timeout=5
        )
    finally:
        await agent.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()


async def test_agent_gives_up_on_a_token_the_gateway_refuses(tmp_path: Path) -> None:
    port = _free_port()
    server = await _start(tmp_path, port)
    token = server.app[TOKENS_KEY].mint(["other"], "station", 600)
    agent = Agent(
        AgentConfig(gateways=[f"http://127.0.0.1:{port}"], stream_id="county-a", token=token),
        track_factory=lambda cfg: [EncodedVideoTrack(FRAMES)],
    )
    try:
        try:
            await asyncio.wait_for(agent.run(), 10)
        except WhipError as exc:
            assert exc.status == 403
        else:
            raise AssertionError("agent should stop on 403")
    finally:
        await server.close()
