"""The archive's and the audit log page's messages, merged into i18n.MESSAGES at import
(kept apart from i18n.py so the two parts of the console can change independently).

What the recorder and the catalog write in English for machines is shown here in the
page's language: verification problems (recorder.verify.PROBLEMS: their English is taken
from there, the Chinese is PROBLEMS_ZH), continuity reasons (recorder.continuity.REASONS,
REASONS_ZH) and audit action codes (ACTIONS).
"""

from __future__ import annotations

from typing import Any

from recorder import PROBLEMS
from recorder.continuity import REASONS, parse

from . import i18n

PROBLEMS_ZH: dict[str, str] = {
    "manifest-unreadable": "无法读取 manifest.json：{error}",
    "signature-missing": "签名或公钥缺失：{file}",
    "signature-invalid": "清单签名无效：manifest.json 被修改或重新签名",
    "signer-unknown": "清单由非本节点的密钥签名",
    "manifest-invalid": "manifest.json 不是有效的清单：{error}",
    "segment-reordered": "分段 {file}：清单第 {n} 位标为第 {index} 段（顺序被调换或条目被删除）",
    "segment-missing": "分段 {file}（第 {n} 段）缺失：已被删除",
    "segment-changed": "分段 {file}（第 {n} 段）内容被改动：sha256 {actual}… ≠ 清单 {expected}…",
    "chain-broken": "哈希链在分段 {file}（第 {n} 段）处断开：清单被修改",
    "segment-inserted": "分段 {file} 不在清单中：为插入的文件",
}
REASONS_ZH: dict[str, str] = {
    "publisher-reconnected": "推流端重新连接",
    "first-keyframe": "等待首个关键帧",
    "publisher-disconnected": "推流端断开",
    "recording-closed": "录像已结束",
    "video-packets-lost": "{packets} 个视频包丢失，重传未能补回",
    "audio-packets-lost": "{packets} 个音频包丢失，重传未能补回",
    "write-failed": "分段未写入：{error}",
    "lost-on-crash": "写入该时段时节点停止运行，无法恢复",
    "node-crash": "节点崩溃，录像中断",
    "node-stopped": "节点停止运行",
    "publisher-lost": "推流端未在宽限期内重连",
    "codecs-changed": "编码格式改变",
    "node-crashed": "节点崩溃",
    "node-lost": "由节点 {node}（录像 {recording}）接续；该节点的推流于 {time} 中断",
    "cut-timeout": "切换后 {seconds} 秒内未收到关键帧：在新录像开始前结束",
    "session-started": "会话 {session} 开始",
    "session-ended": "会话 {session} 结束",
    "session-changed": "视频流所属会话已改变",
    "spool-evicted": "第 {index} 段在上传前因工作站缓存已满被删除",
    "spool-dropped": "工作站缓存写入跟不上，丢弃 {frames} 帧",
    "clock-reanchored": "{track} 时间戳与节点时钟相差 {seconds} 秒：改按到达时间计时",
    "frames-dropped-late": "丢弃 {frames} 个 {track} 帧：时间戳早于所属分段的开始",
    "frames-dropped-backlog": "丢弃 {frames} 个 {track} 帧：录像写入跟不上",
}
# Every action the audit log records: (Chinese, English).
ACTIONS: dict[str, tuple[str, str]] = {
    "login": ("登录", "logged in"),
    "login.failure": ("登录失败", "login failed"),
    "login.attack": ("账户遭受密码猜测", "account under attack"),
    "logout": ("退出", "logged out"),
    "user.add": ("添加用户", "user added"),
    "user.disable": ("停用用户", "user disabled"),
    "user.enable": ("启用用户", "user enabled"),
    "user.password": ("修改密码", "password changed"),
    "station.add": ("添加工作站", "station added"),
    "station.key_enrolled": ("工作站登记签名密钥", "station key enrolled"),
    "station.key_replaced": ("更换工作站签名密钥", "station key replaced"),
    "ingest.started": ("开始回传工作站缓存录像", "station spool back-fill started"),
    "ingest.completed": ("工作站缓存录像回传完成", "station spool back-fill completed"),
    "station.update": ("修改工作站", "station changed"),
    "station.delete": ("删除工作站", "station deleted"),
    "recording.view": ("查看录像", "recording viewed"),
    "recording.export": ("导出证据包", "evidence package exported"),
    "recording.export-failed": ("证据包导出失败", "evidence package export failed"),
    "recording.hold": ("法律保全", "legal hold set"),
    "recording.release": ("解除法律保全", "legal hold released"),
    "segment.view": ("回放分段", "segment played"),
    "retention.delete": ("到期删除", "deleted after retention"),
    "retention.keep": ("到期保留", "kept past retention"),
    "catalog.rebuild": ("重建目录", "catalog rebuilt"),
    "session.create": ("创建庭审会话", "session created"),
    "session.start": ("会话开始", "session started"),
    "session.end": ("会话结束", "session ended"),
    "session.seal": ("会话封存", "session sealed"),
    "session.interruption": ("录制中断", "stream or recording interrupted"),
    "session.interruption-ended": ("中断恢复", "interruption ended"),
    "session.export": ("导出会话证据包", "session evidence package exported"),
    "session.evaluate": ("评议总结", "evaluation recorded"),
    "direction.send": ("发送指挥指令", "direction sent"),
    "direction.read": ("指令已读", "direction read"),
    "comment.post": ("观摩评议", "comment posted"),
    "record.save": ("保存笔录", "record saved"),
    "session.view": ("查看会话档案", "session viewed in the archive"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.audit": ("审计日志", "Audit log"),
    "archive.title": ("录像档案", "Archive"),
    "archive.list": ("录像列表", "Recordings"),
    "archive.timeline": ("覆盖时间线", "Coverage timeline"),
    "archive.audit": ("审计日志", "Audit log"),
    "archive.county": ("县区", "County"),
    "archive.station": ("工作站", "Station"),
    "archive.any": ("全部", "all"),
    "archive.from": ("开始日期", "From"),
    "archive.to": ("结束日期", "To"),
    "archive.session": ("会话", "Session"),
    "archive.filter": ("查询", "Filter"),
    "archive.reset": ("清除", "Clear"),
    "archive.started": ("开始时间", "Started"),
    "archive.duration": ("时长", "Duration"),
    "archive.segments": ("分段", "Segments"),
    "archive.size": ("大小", "Size"),
    "archive.state": ("状态", "State"),
    "archive.verification": ("校验", "Verification"),
    "archive.actions": ("操作", "Actions"),
    "archive.play": ("回放", "Play"),
    "archive.export": ("导出证据包", "Export"),
    "archive.export_hint": (
        "证据包：分段、签名清单、校验说明和审计记录（ZIP）",
        "Evidence package: segments, signed manifest, how to check it, audit trail (zip)",
    ),
    "archive.sync": ("同步回放所选", "Play selected in sync"),
    "archive.sync_hint": (
        "勾选同一时段的两段或多段录像",
        "Tick two or more recordings of the same period",
    ),
    "archive.none": ("没有符合条件的录像。", "No recordings match."),
    "archive.truncated": (
        "仅显示最新 {n} 条，请缩小范围。",
        "Newest {n} shown: narrow the search.",
    ),
    "archive.verified.ok": ("校验通过", "verified"),
    "archive.verified.failed": ("校验失败", "FAILED"),
    "archive.state.recording": ("录制中", "recording"),
    "archive.state.closed": ("已完成", "closed"),
    "archive.state.interrupted": ("中断", "interrupted"),
    "archive.legal_hold": ("法律保全", "legal hold"),
    "archive.retention": ("保存至", "Kept until"),
    "archive.codecs": ("编码", "Codecs"),
    "archive.node": ("录制节点", "Node"),
    "archive.recording": ("录像", "Recording"),
    "archive.stream": ("视频流", "Stream"),
    "archive.detail": ("录像详情", "Recording"),
    "archive.sync_title": ("同步回放", "Synchronised playback"),
    "archive.problems": ("问题", "Problems"),
    "archive.checked_at": ("校验时间", "Checked"),
    "archive.continuity": ("连续性记录", "Continuity log"),
    "archive.no_gaps": ("无中断。", "No gaps."),
    "archive.back": ("返回列表", "Back to the list"),
    "archive.day": ("日期", "Day"),
    "archive.show": ("显示", "Show"),
    "archive.prev_day": ("前一天", "Previous day"),
    "archive.next_day": ("后一天", "Next day"),
    "archive.recorded": ("已录制", "recorded"),
    "archive.recorded_station_spool": (
        "已录制（工作站本地缓存回传）",
        "recorded (back-filled from the station's spool)",
    ),
    "archive.uncovered": ("无录像", "not recorded"),
    "archive.no_stations": ("当天无录像。", "Nothing recorded that day."),
    "archive.timeline_hint": (
        "绿色为已录制时段，彩色标记为中断（悬停查看原因），空白为无录像；点击进入回放。",
        "Green: recorded; coloured marks: gaps (hover for the reason); empty: not recorded. "
        "Click to play.",
    ),
    "gap.publisher-disconnect": ("推流中断", "publisher disconnected"),
    "gap.loss": ("丢包", "packet loss"),
    "gap.keyframe-wait": ("等待关键帧", "waiting for a keyframe"),
    "gap.write-failure": ("写入失败", "write failure"),
    "gap.disk-full": ("磁盘已满", "disk full"),
    "gap.lost-on-crash": ("崩溃丢失", "lost in a crash"),
    "gap.node-crash": ("节点崩溃", "node crash"),
    "gap.node-lost": ("节点失联，已转至其他节点", "node lost, continued on another node"),
    "gap.session-cut": ("会话切换", "session cut-over"),
    "gap.spool-full": ("工作站缓存已满", "station spool full"),
    "gap.clock": ("时钟异常", "clock re-anchored"),
    "gap.dropped": ("丢帧", "frames dropped"),
    "archive.sessions": ("会话档案", "Sessions"),
    "archive.open_session": ("查看", "Open"),
    "archive.play_session": ("同步回放本会话", "Play the session in sync"),
    "archive.back_to_session": ("返回会话", "Back to the session"),
    "archive.participants": ("参与人", "Participants"),
    "archive.evaluation": ("评议总结", "Evaluation"),
    "archive.session_timeline": ("会话时间线", "Session timeline"),
    "archive.session_recordings": ("会话录像（按视频流）", "The session's recordings, by stream"),
    "archive.stream_not_recorded": (
        "本会话期间该视频流无录像。",
        "Not recorded during the session.",
    ),
    "archive.events": ("事件", "Events"),
    "archive.event": ("事件", "Event"),
    "archive.at": ("时间", "Time"),
    "archive.media_time": ("会话时刻", "Session time"),
    "archive.event_detail": ("内容", "Detail"),
    "archive.play_here": ("从此处回放", "Play from here"),
    "archive.no_events": ("无事件。", "No events."),
    "archive.direction": ("指挥指令", "Direction"),
    "archive.direction_read": ("指令已读", "Direction read by"),
    "archive.mark.state": ("状态变化", "state change"),
    "archive.mark.direction": ("发送指令", "direction sent"),
    "archive.mark.read": ("指令已读", "direction read"),
    "archive.mark.comment": ("观摩评议", "comment"),
    "archive.mark.interruption": ("录制中断", "interruption"),
    "archive.mark.resumed": ("中断恢复", "interruption ended"),
    "archive.interruption": ("中断", "Interrupted"),
    "archive.interruption_ended": ("已恢复", "Back"),
    "player.play": ("播放", "Play"),
    "player.pause": ("暂停", "Pause"),
    "player.position": ("时刻", "Time"),
    "player.loading": ("加载中", "loading"),
    "player.no_media": ("此时刻无录像", "not recorded at this time"),
    "player.drift": ("同步偏差", "drift"),
    "player.error": ("无法加载录像", "cannot load the recording"),
    "audit.title": ("审计日志", "Audit log"),
    "audit.id": ("序号", "#"),
    "audit.at": ("时间", "Time"),
    "audit.actor": ("操作人", "Who"),
    "audit.action": ("操作", "Action"),
    "audit.target": ("对象", "Target"),
    "audit.detail": ("详情", "Detail"),
    "audit.hash": ("哈希", "Hash"),
    "audit.ok": (
        "审计链完整：{rows} 条记录，哈希链未被篡改（链头 {head}）",
        "Audit chain intact: {rows} rows, hash chain unbroken (head {head})",
    ),
    "audit.failed": (
        "审计链校验失败：第 {row} 条 — {problem}",
        "Audit chain BROKEN at row {row}: {problem}",
    ),
    "audit.none": ("没有符合条件的记录。", "No entries match."),
    "audit.older": ("更早", "Older"),
    "audit.newest": ("最新", "Newest"),
}

MESSAGES |= {f"verify.{k}": (PROBLEMS_ZH.get(k, ""), en) for k, en in PROBLEMS.items()}
MESSAGES |= {f"reason.{k}": (REASONS_ZH.get(k, ""), en) for k, en in REASONS.items()}
MESSAGES |= {f"action.{k}": pair for k, pair in ACTIONS.items()}
MESSAGES |= {
    "verify.ok": (
        "校验通过：{segments} 个分段，{duration} 秒，{size}，哈希链完整，{trust}",
        "OK: {segments} segments, {duration} s, {size}, hash chain intact, {trust}",
    ),
    "verify.failed": ("校验失败：{problem}", "FAILED: {problem}"),
    "verify.trust.yes": ("由本节点密钥签名", "signed by this node's key"),
    "verify.trust.no": ("由本节点不认识的密钥签名", "signed by a key this node does not know"),
    "verify.trust.unknown": ("签名有效", "signature valid"),
}

i18n.MESSAGES.update(MESSAGES)

_TRUST = {True: "verify.trust.yes", False: "verify.trust.no", None: "verify.trust.unknown"}


def _size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    return f"{n / (1 << 20):.1f} MB" if n >= 1 << 20 else f"{n / 1024:.0f} kB"


def verification(translate: i18n.Translator, v: dict[str, Any]) -> dict[str, Any]:
    """A copy of catalog.Archive.verification's result with `summary` and `problems` in
    the translator's language (from its `issues`: codes and values)."""
    problems = [translate(f"verify.{p['code']}", **p["params"]) for p in v.get("issues", [])]
    if problems:
        summary = translate("verify.failed", problem=problems[0])
    else:
        summary = translate(
            "verify.ok",
            segments=v["segments"],
            duration=f"{v['duration']:.1f}",
            size=_size(v["bytes"]),
            trust=translate(_TRUST[v["signer_trusted"]]),
        )
    return v | {"summary": summary, "problems": problems}


def continuity_reason(translate: i18n.Translator, text: str) -> str:
    """A manifest's continuity reason in the translator's language (as written when it
    is not one recorder.continuity knows)."""
    found = parse(text)
    return translate(f"reason.{found[0]}", **found[1]) if found else text


def action_label(translate: i18n.Translator, action: str) -> str:
    """An audit action code's label (the code itself when unknown)."""
    return translate(f"action.{action}") if action in ACTIONS else action
