"""The `vdispatch` command line (CONTRACT.md section 1)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

from camera_agents import DEFAULT_KEY_DIR
from signaling import ROLES, TOKEN_ROLES, TokenRole, per_stream

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

    agent = sub.add_parser(
        "agent",
        help="camera agent: publish a station's cameras (--config) or one source over WHIP",
    )
    agent.add_argument(
        "--config",
        dest="station_config",
        metavar="STATION.toml",
        help="a station: its gateways, token file and cameras (docs/operations.md)",
    )
    agent.add_argument(
        "--gateway",
        action="append",
        help="gateway base URL; repeat for fail-over order",
    )
    agent.add_argument("--stream")
    agent.add_argument("--token")
    agent.add_argument("--source", default="testsrc")
    agent.add_argument("--name", help="station name burned into the test pattern")
    agent.add_argument("--spool", help="local spool directory (not yet used)")

    verify = sub.add_parser(
        "verify", help="check a recording's segments, chain and signature, or the audit log"
    )
    verify.add_argument("target", nargs="?", help="recording id or directory")
    verify.add_argument("--session", help="check every recording of a session, and its seal")
    verify.add_argument("--audit", action="store_true", help="check the audit log's hash chain")

    export = sub.add_parser("export", help="write an evidence package (zip)")
    export.add_argument("target", nargs="?", help="recording id or directory")
    export.add_argument("--session", help="one package for a sealed session")
    export.add_argument("-o", "--output", required=True, help="FILE.zip")

    roles = ", ".join(TOKEN_ROLES)
    streamless = ", ".join(r for r in TOKEN_ROLES if not per_stream(r))
    token = sub.add_parser("token", help=f"mint a token ({roles})")
    token.add_argument(
        "--stream", action="append", help=f"stream id; repeat (not for {streamless})"
    )
    token.add_argument("--role", choices=[r.value for r in TOKEN_ROLES], required=True)
    token.add_argument("--ttl", default="30d")
    token.add_argument("--name", help="who holds the token (recorded in the audit log)")

    catalog = sub.add_parser("catalog", help="the recordings catalog")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True)
    rebuild = catalog_sub.add_parser("rebuild", help="recreate the catalog from the manifests")
    rebuild.add_argument(
        "--prune",
        action="store_true",
        help="also forget catalog entries whose files are not in this DATA_DIR",
    )

    retention = sub.add_parser("retention", help="delete recordings past their retention")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    run = retention_sub.add_parser("run", help="delete expired recordings not on legal hold")
    run.add_argument("--dry-run", action="store_true", help="say what would be deleted")

    _account_commands(sub)

    recording = sub.add_parser("recording", help="legal hold on a recording")
    recording_sub = recording.add_subparsers(dest="recording_command", required=True)
    for name, text in (("hold", "place on legal hold"), ("release", "lift a legal hold")):
        cmd = recording_sub.add_parser(name, help=text)
        cmd.add_argument("recording_id")
        cmd.add_argument("--reason", default="", help="recorded in the audit log")
    return p


KINDS = ["courtroom", "interrogation_room", "reception_room", "detention_centre"]


def _account_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="console accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser(
        "add", help="create an account (password prompted twice, or read from stdin)"
    )
    add.add_argument("name", help="login name: lower-case letters, digits, . _ -")
    add.add_argument("--role", choices=[r.value for r in ROLES], required=True)
    add.add_argument("--display-name", help="shown in the console (e.g. the person's name)")
    add.add_argument(
        "--county", help="county staff: only this county's stations and sessions (default: city)"
    )
    user_sub.add_parser("list", help="list accounts")
    for name, text in (("disable", "disable (and log out)"), ("enable", "enable again")):
        cmd = user_sub.add_parser(name, help=f"{text} an account")
        cmd.add_argument("name")
    passwd = user_sub.add_parser("passwd", help="set a new password (prompted or from stdin)")
    passwd.add_argument("name")

    station = sub.add_parser("station", help="the station registry")
    station_sub = station.add_subparsers(dest="station_command", required=True)
    add = station_sub.add_parser("add", help="register a station and its stream ids")
    add.add_argument("id", help="station id, like a stream id")
    add.add_argument("--county", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--kind", choices=KINDS, required=True)
    add.add_argument("--stream", action="append", required=True, help="stream id; repeat")
    station_sub.add_parser("list", help="list stations and their presence")
    remove = station_sub.add_parser("remove", help="remove a station from the registry")
    remove.add_argument("id")
    enroll = station_sub.add_parser(
        "enroll", help="at the station: make its signing key and register it with the node"
    )
    enroll.add_argument("--station", required=True)
    enroll.add_argument("--gateway", required=True, help="the node's base URL")
    enroll.add_argument("--token-file", required=True, type=Path)
    enroll.add_argument("--key-dir", type=Path, default=DEFAULT_KEY_DIR)
    replace = station_sub.add_parser(
        "replace-key", help="at the node (admin): replace a station's enrolled key"
    )
    replace.add_argument("--station", required=True)
    replace.add_argument("--public-key", required=True, type=Path, help="the new key (PEM)")


def _run_accounts(args: argparse.Namespace, settings: Settings) -> int:
    from . import accounts_cli as cli

    if args.command == "user":
        if args.user_command == "add":
            return cli.user_add(settings, args.name, args.role, args.display_name, args.county)
        if args.user_command == "list":
            return cli.user_list(settings)
        if args.user_command == "passwd":
            return cli.user_password(settings, args.name)
        return cli.user_disable(settings, args.name, args.user_command == "disable")
    if args.station_command == "enroll":
        from .enroll_cli import enroll

        return enroll(args.station, args.gateway, args.token_file, args.key_dir)
    if args.station_command == "replace-key":
        from .enroll_cli import replace_key

        return replace_key(settings, args.station, args.public_key)
    if args.station_command == "add":
        return cli.station_add(
            settings, args.id, args.county, args.name, args.kind, list(args.stream)
        )
    if args.station_command == "list":
        return cli.station_list(settings)
    return cli.station_remove(settings, args.id)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aioice", "aiortc", "aiohttp.access", "alembic"):
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
    if args.command in ("user", "station"):
        return _run_accounts(args, settings)
    if args.command == "verify":
        from . import catalog_cli, evidence_cli

        if args.target is None and not args.audit and not args.session:
            print(
                "vdispatch verify: give a recording (id or directory), --session or --audit",
                file=sys.stderr,
            )
            return 2
        status = evidence_cli.verify(settings, args.target) if args.target else 0
        if args.session:
            status = max(status, evidence_cli.verify_session(settings, args.session))
        if args.audit:
            status = max(status, catalog_cli.verify_audit(settings))
        return status
    if args.command in ("catalog", "retention", "recording"):
        from . import catalog_cli

        if args.command == "catalog":
            return catalog_cli.rebuild(settings, args.prune)
        if args.command == "retention":
            return catalog_cli.retention(settings, args.dry_run)
        held = args.recording_command == "hold"
        return catalog_cli.hold(settings, args.recording_id, held, args.reason)
    if args.command == "export":
        from . import evidence_cli

        if (args.target is None) == (args.session is None):
            print(
                "vdispatch export: give a recording (id or directory) or --session", file=sys.stderr
            )
            return 2
        if args.session:
            return evidence_cli.export_session(settings, args.session, args.output)
        return evidence_cli.export(settings, args.target, args.output)
    if args.command == "token":
        from signaling import TokenIssuer, parse_ttl

        try:
            role = TokenRole(args.role)
            if role is TokenRole.SCREEN:
                raise ValueError(
                    "a screen's link is made by a commander on /dispatch (the node keeps"
                    " it, so a new link revokes the old one)"
                )
            if role is TokenRole.KIOSK:
                raise ValueError(
                    "a kiosk's link is made by an admin or commander for one reception room"
                    " (POST /api/reception/kiosks/{station}/link)"
                )
            if not per_stream(role) and args.stream:
                raise ValueError(f"{role} tokens cover every stream: leave out --stream")
            if per_stream(role) and not args.stream:
                raise ValueError(f"a {role} token needs --stream")
            ttl = parse_ttl(args.ttl)
            issuer = TokenIssuer(settings.token_secret())
            token = issuer.mint(args.stream or [], role, ttl, name=args.name)
        except ValueError as exc:
            print(f"vdispatch token: {exc}", file=sys.stderr)
            return 2
        print(token)
        return 0
    if args.command == "serve":
        from aiohttp import web

        from .node import build_app

        app = build_app(settings, metrics_listener=True)
        web.run_app(app, host=settings.host, port=settings.port, print=None)
        return 0
    if args.command == "demo":
        from .demo import run_demo

        if not settings.media.ice_addresses:
            # Single-machine demo: also gather loopback so a local browser always connects.
            media = settings.media.model_copy(update={"ice_addresses": _local_addresses()})
            settings = settings.model_copy(update={"media": media})
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(settings, args.stations))
        return 0
    if args.command == "agent":
        from . import agent_cli

        return agent_cli.run(args, settings)
    raise AssertionError(args.command)


def _local_addresses() -> list[str]:
    from media_gateway import default_host_addresses

    return ["127.0.0.1", *default_host_addresses()]
