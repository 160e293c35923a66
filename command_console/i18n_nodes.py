"""The cluster's messages (the nodes view and the cluster alarm banner), merged into
i18n.MESSAGES at import, like i18n_wall.py."""

from __future__ import annotations

from typing import Any

from . import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.nodes": ("节点", "Nodes"),
    "nodes.title": ("集群节点", "Cluster nodes"),
    "nodes.alone": ("单节点运行（未配置 Redis）。", "A single node (no Redis configured)."),
    "nodes.count": ("{n} 个节点在线", "{n} nodes online"),
    "nodes.node": ("节点", "Node"),
    "nodes.url": ("地址", "Address"),
    "nodes.streams": ("持有的直播流", "Streams held"),
    "nodes.viewers": ("观看", "Viewers"),
    "nodes.relays": ("转发上游", "Relayed upstreams"),
    "nodes.cpu": ("CPU", "CPU"),
    "nodes.lag": ("事件循环延迟", "Event loop lag"),
    "nodes.seen": ("心跳", "Heartbeat"),
    "nodes.self": ("本节点", "this node"),
    "nodes.none": ("无", "none"),
    "cluster.alarm": (
        "集群告警：本节点与 Redis 失去连接。本节点持有的直播与录像照常进行；其他节点的直播"
        "暂不可见，恢复后自动同步。",
        "Cluster alarm: this node has lost Redis. What it holds goes on being served and "
        "recorded; other nodes' streams are out of sight until Redis returns and the node "
        "reconciles.",
    ),
    "catalog.alarm": (
        "目录告警：本节点与目录数据库失去连接。直播与录像照常进行，录像写入磁盘；依赖目录的页面"
        "暂时返回 503，数据库恢复后自动从清单重建目录。",
        "Catalog alarm: this node has lost the catalog's database. Live video and recording go "
        "on (recordings are written to disk); pages that need the catalog answer 503 until the "
        "database returns, and the node then re-indexes from the manifests.",
    ),
}
i18n.MESSAGES.update(MESSAGES)

SCRIPT_PREFIXES = ("nodes.",)


def script_messages(translate: i18n.Translator) -> dict[str, Any]:
    return translate.messages(*SCRIPT_PREFIXES)
