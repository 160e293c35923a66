"""The seal panel's messages on a sealed session's archive page (seal.*) and its audit
actions, merged into i18n.MESSAGES and i18n_archive.ACTIONS at import (kept apart, like
i18n_dispatch.py)."""

from __future__ import annotations

from typing import Any

from . import i18n, i18n_archive

ACTIONS: dict[str, tuple[str, str]] = {
    "session.verify": ("校验会话证据", "session evidence verified"),
    "session.export-failed": ("会话证据包导出失败", "session evidence package export failed"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    "seal.title": ("封存", "Seal"),
    "seal.not_sealed": ("本会话尚未封存。", "This session is not sealed."),
    "seal.sealed_at": ("封存时间", "Sealed at"),
    "seal.sealed_by": ("封存人", "Sealed by"),
    "seal.key": ("签名密钥指纹（SHA-256）", "Signing key fingerprint (SHA-256)"),
    "seal.signature": ("封存签名", "Seal signature"),
    "seal.interruptions": ("中断次数", "Interruptions"),
    "seal.record": ("笔录", "Record"),
    "seal.record_version": ("第 {version} 版", "version {version}"),
    "seal.no_record": ("无笔录", "no record"),
    "seal.recordings": ("封存的录像", "Recordings in the seal"),
    "seal.recording": ("录像", "Recording"),
    "seal.stream": ("视频流", "Stream"),
    "seal.segments": ("分段", "Segments"),
    "seal.chain": ("最终链哈希", "Chain head"),
    "seal.result": ("校验结果", "Verification"),
    "seal.verify": ("校验", "Verify"),
    "seal.verify_hint": (
        "在节点上校验整个会话：每个录像的每个分段、哈希链与签名，以及封存记录",
        "Check the whole session on the node: every segment, hash chain and signature of "
        "every recording, and the seal",
    ),
    "seal.download": ("下载证据包", "Download evidence package"),
    "seal.download_hint": (
        "整个会话的证据包（zip），可用 sha256sum 与 openssl 独立校验；下载将记入审计日志",
        "The whole session's evidence package (zip), checkable with sha256sum and openssl; "
        "downloads are audited",
    ),
    "seal.verifying": ("正在校验…", "Verifying…"),
    "seal.ok": (
        "校验通过：{recordings} 个录像、{segments} 个分段完好，封存签名有效",
        "Verified: {recordings} recordings, {segments} segments intact, seal signature valid",
    ),
    "seal.ok_unsealed": (
        "校验通过：{recordings} 个录像、{segments} 个分段完好（未封存）",
        "Verified: {recordings} recordings, {segments} segments intact (not sealed)",
    ),
    "seal.failed": ("校验失败", "Verification FAILED"),
    "seal.failed_at": (
        "校验失败：录像 {recording} 分段 {segment}",
        "Verification FAILED: recording {recording}, segment {segment}",
    ),
    "seal.failed_recording": (
        "校验失败：录像 {recording}",
        "Verification FAILED: recording {recording}",
    ),
    "seal.seal_failed": ("校验失败：封存记录", "Verification FAILED: the seal record"),
    "seal.row_ok": ("完好", "intact"),
    "seal.row_failed": ("不符", "FAILED"),
    "seal.seal_ok": ("封存签名有效", "seal signature valid"),
    "seal.error": ("校验未能完成", "The verification could not run"),
}
MESSAGES |= {f"action.{k}": pair for k, pair in ACTIONS.items()}

i18n_archive.ACTIONS.update(ACTIONS)
i18n.MESSAGES.update(MESSAGES)


def script_messages(translate: i18n.Translator) -> dict[str, Any]:
    return translate.messages("seal.")
