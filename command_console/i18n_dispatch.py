"""Video dispatch's messages (the /dispatch page, the wall PC's /screen/{name}, a station's
display) and its audit actions, merged into i18n.MESSAGES and i18n_archive.ACTIONS at
import (kept apart from i18n.py, like i18n_wall.py)."""

from __future__ import annotations

from typing import Any

from . import i18n, i18n_archive

# Every dispatch action the audit log records: (Chinese, English).
ACTIONS: dict[str, tuple[str, str]] = {
    "dispatch.screen.add": ("添加调度屏幕", "screen added"),
    "dispatch.screen.update": ("修改调度屏幕", "screen changed"),
    "dispatch.screen.delete": ("删除调度屏幕", "screen deleted"),
    "dispatch.screen.set": ("切换屏幕画面", "screen layout set"),
    "dispatch.screen.link": ("生成大屏链接", "screen link made"),
    "dispatch.screen.unlink": ("撤销大屏链接", "screen link revoked"),
    "dispatch.layout.save": ("保存预案", "layout saved"),
    "dispatch.layout.recall": ("调取预案", "layout recalled"),
    "dispatch.layout.delete": ("删除预案", "layout deleted"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.dispatch": ("集中调度", "Dispatch"),
    "dispatch.title": ("集中调度", "Video dispatch"),
    "dispatch.screens": ("输出屏幕", "Screens"),
    "dispatch.no_screens": ("尚未添加屏幕。", "No screens yet."),
    "dispatch.add_screen": ("添加屏幕", "Add a screen"),
    "dispatch.name": ("编号", "Name"),
    "dispatch.name_hint": ("小写字母、数字、- _", "lower-case letters, digits, - _"),
    "dispatch.screen_title": ("名称", "Title"),
    "dispatch.kind": ("类型", "Kind"),
    "dispatch.kind.wall": ("指挥大厅大屏", "Command hall wall"),
    "dispatch.kind.station": ("工作站屏幕", "Station screen"),
    "dispatch.station": ("工作站", "Station"),
    "dispatch.grid": ("分屏", "Grid"),
    "dispatch.tile": ("第 {n} 格", "Tile {n}"),
    "dispatch.empty_tile": ("（空）", "(empty)"),
    "dispatch.not_live": ("（未直播）", "(not on air)"),
    "dispatch.apply": ("切换", "Apply"),
    "dispatch.applied": ("已切换", "Applied"),
    "dispatch.delete": ("删除", "Delete"),
    "dispatch.confirm_delete": ("确定删除？", "Delete it?"),
    "dispatch.link": ("生成大屏链接", "Make the wall PC link"),
    "dispatch.link_hint": (
        "在大屏电脑上打开此链接（旧链接随即失效）",
        "Open this link on the wall PC (any older link stops working)",
    ),
    "dispatch.link_on": ("已有链接", "linked"),
    "dispatch.unlink": ("撤销链接", "Revoke the link"),
    "dispatch.open": ("预览", "Preview"),
    "dispatch.sources": ("可调度信号", "Live sources"),
    "dispatch.layouts": ("预案", "Saved layouts"),
    "dispatch.no_layouts": ("尚未保存预案。", "No saved layouts yet."),
    "dispatch.save_as": ("将当前画面保存为预案", "Save what the screens show as"),
    "dispatch.save": ("保存", "Save"),
    "dispatch.saved": ("已保存", "Saved"),
    "dispatch.recall": ("一键调取", "Recall"),
    "dispatch.recalled": ("已调取：{n} 个屏幕切换", "Recalled: {n} screens changed"),
    "dispatch.updated": ("更新于 {time} · {who}", "updated {time} · {who}"),
    "dispatch.failed": ("操作失败：{reason}", "Failed: {reason}"),
    "screen.title": ("大屏显示", "Screen"),
    "screen.city": ("市院画面", "City picture"),
    "screen.alarm": (
        "录制中断：请暂停讯问，等待恢复",
        "Recording interrupted: pause the interrogation until it resumes",
    ),
    "screen.alarm_lost": ("{stream} 画面中断，自 {since} 起", "{stream} lost since {since}"),
    "screen.alarm_failed": (
        "{stream} 录制故障，自 {since} 起",
        "{stream}: recording failed since {since}",
    ),
    "screen.empty": ("暂无调度画面", "Nothing dispatched to this screen"),
    "screen.gone": (
        "此链接已失效（屏幕已删除，或链接已更换、撤销）",
        "This link no longer works (the screen was deleted, or its link replaced or revoked)",
    ),
    "screen.expired": ("链接已过期", "The link has expired"),
    "screen.fullscreen": ("全屏", "Full screen"),
    "screen.reconnecting": ("与服务器的连接中断，正在重连", "Lost the server: reconnecting"),
    "error.title.401": ("链接无效", "Link not valid"),
    "error.title.403": ("无权访问", "Forbidden"),
    "error.screen_unknown": ("没有屏幕 {name}", "No screen {name}"),
    "error.display_link": (
        "链接无效、已过期或已被撤销，请向指挥员索取新链接",
        "The link is invalid, expired, replaced or revoked: ask a commander for a new one",
    ),
    "error.display_forbidden": ("此链接不能打开该画面", "This link does not open this display"),
}
MESSAGES |= {f"action.{k}": pair for k, pair in ACTIONS.items()}

i18n_archive.ACTIONS.update(ACTIONS)
i18n.MESSAGES.update(MESSAGES)

# What the dispatch page's and the screens' scripts need, in the page's language.
SCRIPT_PREFIXES = ("dispatch.", "screen.", "wall.")


def script_messages(translate: i18n.Translator) -> dict[str, Any]:
    return translate.messages(*SCRIPT_PREFIXES)
