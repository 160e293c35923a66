"""`vdispatch demo`: one node on embedded defaults plus N simulated county stations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from camera_agents import Agent, AgentConfig
from camera_agents.ice import use_host_addresses
from signaling import TOKENS_KEY

from .node import build_app
from .settings import Settings

logger = logging.getLogger(__name__)

STATIONS = [
    ("county-a-court", "甲县法院 第一法庭"),
    ("county-b-interrogation", "乙县看守所 讯问室"),
    ("county-c-reception", "丙县检察院 接访室"),
    ("county-d-court", "丁县法院 第二法庭"),
    ("county-e-reception", "戊县检察院 接访室"),
]


async def run_demo(settings: Settings, stations: int) -> None:
    app = build_app(settings, demo=True)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    url = settings.node().public_url
    # The simulated stations run in this process; their ICE agent must reach the node.
    use_host_addresses(list(settings.ice_addresses) or None)
    agents = []
    tasks = []
    for i in range(stations):
        stream_id, name = (
            STATIONS[i] if i < len(STATIONS) else (f"station-{i + 1}", f"Station {i + 1}")
        )
        token = app[TOKENS_KEY].mint([stream_id], "station", 86400)
        local = f"http://127.0.0.1:{settings.port}"
        agent = Agent(
            AgentConfig(
                gateways=[local],
                stream_id=stream_id,
                token=token,
                station_name=stream_id + "  " + name,
            )
        )
        agents.append(agent)
        tasks.append(asyncio.create_task(agent.run()))
    print(f"vdispatch demo: console at {url}/  ({stations} simulated stations; Ctrl-C stops)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping…")
    for agent in agents:
        await agent.stop()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    await runner.cleanup()
