"""The `vdispatch` command line (CONTRACT.md section 1)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from .settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vdispatch", description="Video dispatch and remote hearings")
    p.add_argument("--config", help="TOML settings file (VDISPATCH_* variables override it)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="one node + simulated stations on embedded defaults")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--stations", type=int, default=3)

    serve = sub.add_parser("serve", help="run one gateway node")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    agent = sub.add_parser("agent", help="camera agent: publish a source over WHIP")
    agent.add_argument(
        "--gateway",
        action="append",
        required=True,
        help="gateway base URL; repeat for fail-over order",
    )
    agent.add_argument("--stream", required=True)
    agent.add_argument("--token", required=True)
    agent.add_argument("--source", default="testsrc")
    agent.add_argument("--name", help="station name burned into the test pattern")
    agent.add_argument("--spool", help="local spool directory (not yet used)")

    verify = sub.add_parser("verify", help="check a recording's segments, chain and signature")
    verify.add_argument("target", help="recording id or directory")

    export = sub.add_parser("export", help="write an evidence package (zip)")
    export.add_argument("target", help="recording id or directory")
    export.add_argument("-o", "--output", required=True, help="FILE.zip")

    token = sub.add_parser("token", help="mint a stream token")
    token.add_argument("--stream", action="append", required=True)
    token.add_argument("--role", choices=["station", "viewer"], required=True)
    token.add_argument("--ttl", default="30d")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        overrides: dict[str, object] = {}
        if args.command in ("serve", "demo"):
            overrides = {"host": getattr(args, "host", None), "port": args.port}
        if args.command == "demo":
            overrides.setdefault("host", "127.0.0.1")
        settings = load_settings(args.config, **overrides)
        return _run(args, settings)
    except SettingsError as exc:
        print(f"vdispatch: bad setting: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "verify":
        from . import evidence_cli

        return evidence_cli.verify(settings, args.target)
    if args.command == "export":
        from . import evidence_cli

        return evidence_cli.export(settings, args.target, args.output)
    if args.command == "token":
        from signaling import TokenIssuer, parse_ttl

        try:
            ttl = parse_ttl(args.ttl)
            token = TokenIssuer(settings.token_secret()).mint(args.stream, args.role, ttl)
        except ValueError as exc:
            print(f"vdispatch token: {exc}", file=sys.stderr)
            return 2
        print(token)
        return 0
    if args.command == "serve":
        from aiohttp import web

        from .node import build_app

        web.run_app(build_app(settings), host=settings.host, port=settings.port, print=None)
        return 0
    if args.command == "demo":
        from .demo import run_demo

        if not settings.ice_addresses:
            # Single-machine demo: also gather loopback so a local browser always connects.
            settings = settings.model_copy(update={"ice_addresses": _local_addresses()})
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(settings, args.stations))
        return 0
    if args.command == "agent":
        from camera_agents import Agent, AgentConfig, WhipError
        from camera_agents.ice import use_host_addresses

        use_host_addresses(list(settings.ice_addresses) or None)
        config = AgentConfig(
            gateways=args.gateway,
            stream_id=args.stream,
            token=args.token,
            source=args.source,
            station_name=args.name,
            ice_servers=list(settings.ice_servers),
        )
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(Agent(config).run())
        except (WhipError, ValueError) as exc:
            print(f"vdispatch agent: {exc}", file=sys.stderr)
            return 1
        return 0
    raise AssertionError(args.command)


def _local_addresses() -> list[str]:
    import aioice.ice

    return ["127.0.0.1", *aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)]
