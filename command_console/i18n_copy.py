"""The evidence copy's messages (the panel on a sealed session's archive page) and its
audit actions, merged into i18n.MESSAGES and i18n_archive.ACTIONS at import (kept apart,
like i18n_dispatch.py)."""

from __future__ import annotations

from . import i18n, i18n_archive

# Every evidence-copy action the audit log records: (Chinese, English).
ACTIONS: dict[str, tuple[str, str]] = {
    "session.copy.queued": ("证据副本排队制作", "evidence copy queued"),
    "session.copy.done": ("证据副本制作完成", "evidence copy rendered"),
    "session.copy.failed": ("证据副本制作失败", "evidence copy failed"),
    "session.copy.download": ("下载证据副本", "evidence copy downloaded"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    "copy.title": ("证据副本", "Evidence copy"),
    "copy.state": ("状态", "State"),
    "copy.state.none": ("尚未制作", "not made yet"),
    "copy.state.queued": ("排队中", "queued"),
    "copy.state.rendering": ("制作中", "rendering"),
    "copy.state.done": ("已完成", "done"),
    "copy.state.failed": ("制作失败", "failed"),
    "copy.progress": ("进度", "Progress"),
    "copy.download": ("下载副本 (MP4)", "Download the copy (MP4)"),
    "copy.sha256": ("SHA-256", "SHA-256"),
    "copy.size": ("大小", "Size"),
    "copy.duration": ("时长", "Duration"),
    "copy.record": ("签名记录", "Signed record"),
    "copy.error": ("失败原因", "Why it failed"),
    "copy.rerender": ("重新制作", "Render again"),
    "copy.refused": ("无法重新制作（{status}）", "Cannot render it again ({status})"),
    "copy.not_sealed": ("会话封存后制作证据副本。", "The evidence copy is made once sealed."),
}
MESSAGES |= {f"action.{k}": pair for k, pair in ACTIONS.items()}

i18n_archive.ACTIONS.update(ACTIONS)
i18n.MESSAGES.update(MESSAGES)

# What the panel's script needs, in the page's language.
SCRIPT_PREFIXES = ("copy.",)


def script_messages(translate: i18n.Translator) -> dict[str, str]:
    return translate.messages(*SCRIPT_PREFIXES)
