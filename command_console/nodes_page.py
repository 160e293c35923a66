"""The cluster's nodes (nodes.read: commanders and admins): each live node with the
streams it holds and its load; the page's script refreshes it from GET /api/nodes."""

from __future__ import annotations

from aiohttp import web

from cluster import LocalDirectory
from signaling import DIRECTORY_KEY, Permission, cluster_nodes, require

from . import i18n, i18n_nodes
from .render import render


@require(Permission.NODES_READ)
async def nodes_page(request: web.Request) -> web.StreamResponse:
    translate = i18n.Translator(i18n.language(request))
    return render(
        request,
        "nodes.html",
        nodes=await cluster_nodes(request.app),
        clustered=not isinstance(request.app[DIRECTORY_KEY], LocalDirectory),
        messages=i18n_nodes.script_messages(translate),
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/nodes", nodes_page)
