"""`vdispatch agent`: a station's cameras from its TOML config, or one test stream."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from camera_agents import (
    Agent,
    AgentConfig,
    Station,
    StationConfigError,
    WhipError,
    bound_port,
    load_station_config,
    serve_status,
    use_keyframe_tap,
    use_rtcp_tap,
)
from media_gateway import set_host_addresses, tap_keyframe_requests, tap_rtcp_arrival

from .settings import Settings

logger = logging.getLogger(__name__)
STOP_TIMEOUT = 20.0  # seconds for every camera to stop


def run(args: argparse.Namespace, settings: Settings) -> int:
    # The agent's aiortc peers gather these (the one aioice patch, the gateway's).
    set_host_addresses(list(settings.media.ice_addresses) or None)
    # a viewer's PLI reaches the cameras the agent encodes itself
    use_keyframe_tap(tap_keyframe_requests)
    # the gateway's receiver reports keep the liveness watchdog quiet (fail-over in < 5 s)
    use_rtcp_tap(tap_rtcp_arrival)
    if args.station_config:
        return _station(args.station_config)
    missing = [f"--{n}" for n in ("gateway", "stream", "token") if not getattr(args, n)]
    if missing:
        print(
            f"vdispatch agent: give --config STATION.toml, or {', '.join(missing)}",
            file=sys.stderr,
        )
        return 2
    config = AgentConfig(
        gateways=args.gateway,
        stream_id=args.stream,
        token=args.token,
        source=args.source,
        station_name=args.name,
        ice_servers=list(settings.media.ice_servers),
        turn_secret=settings.media.turn_secret.get_secret_value()
        if settings.media.turn_secret
        else None,
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(Agent(config).run())
    except (WhipError, ValueError) as exc:
        print(f"vdispatch agent: {exc}", file=sys.stderr)
        return 1
    return 0


def _station(path: str) -> int:
    try:
        config = load_station_config(path)
        token = config.token_file.read_text().strip()
    except StationConfigError as exc:
        print(f"vdispatch agent: bad station config: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vdispatch agent: token_file: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        turn_secret = config.read_turn_secret()
    except OSError as exc:
        print(f"vdispatch agent: turn_secret_file: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not token:
        print(f"vdispatch agent: token_file {config.token_file} is empty", file=sys.stderr)
        return 2

    async def main() -> None:
        station = Station(config, token, turn_secret)
        runner = await serve_status(station.status, config.status_port)
        logger.info("station=%s status=http://127.0.0.1:%d/", config.station, bound_port(runner))
        # SIGTERM (systemd) and SIGINT end every publication cleanly (WHIP DELETE), so the
        # node closes the recordings at once instead of after its grace period.
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        await station.start()
        try:
            await stopping.wait()
            logger.info("station=%s stopping", config.station)
        finally:
            await asyncio.wait_for(station.stop(), STOP_TIMEOUT)
            await runner.cleanup()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main())
    except (OSError, ValueError) as exc:
        print(f"vdispatch agent: {exc}", file=sys.stderr)
        return 1
    return 0
