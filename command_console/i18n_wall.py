"""The live wall's, station directory's and focus view's messages, merged into
i18n.MESSAGES at import (kept apart from i18n.py, like i18n_archive.py, so the parts of
the console can change independently)."""

from __future__ import annotations

from typing import Any

from . import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "wall.layout": ("布局", "Layout"),
    "wall.layout_n": ("{n} 画面", "{n} tiles"),
    "wall.keys": ("按键 1 4 9 0 切换布局 · ←/→ 翻页", "Keys 1 4 9 0: layout · ←/→: page"),
    "wall.page": ("第 {page}/{pages} 页", "Page {page}/{pages}"),
    "wall.prev": ("上一页", "Previous page"),
    "wall.next": ("下一页", "Next page"),
    "wall.offline": ("信号中断", "offline"),
    "wall.reconnecting": ("信号中断 · 等待重连", "offline · reconnecting"),
    "wall.stalled": ("画面停滞", "stalled"),
    "wall.rec": ("录像", "REC"),
    "wall.rec_on": ("正在录像", "recording"),
    "wall.rec_off": ("未录像", "not recording"),
    "wall.empty": ("当前没有直播的工作站。", "No station is on air."),
    "wall.loss": ("丢包", "loss"),
    "wall.focus_hint": ("点击放大查看并收听", "Click to focus, with sound"),
    "wall.directory": ("工作站目录", "Stations"),
    "wall.county_count": ("{online}/{total} 在线", "{online}/{total} online"),
    "wall.county_down": ("全部离线", "all offline"),
    "wall.counties_down": ("{n} 个县区全部离线", "Counties all offline: {n}"),
    "wall.no_stations": ("尚未登记工作站。", "No stations registered yet."),
    "wall.since": ("{time} 起", "since {time}"),
    "focus.title": ("单路放大", "Focus view"),
    "focus.back": ("返回集中显示", "Back to the wall"),
    "focus.esc": ("Esc 返回", "Esc: back"),
    "focus.unmute": ("开启声音", "Unmute"),
    "focus.mute": ("静音", "Mute"),
    "focus.muted": ("已静音", "muted"),
    "focus.keys": ("M 开关声音", "M: sound on/off"),
    "focus.stats": ("实时指标", "Live statistics"),
    "focus.details": ("工作站信息", "Station"),
    "focus.codec": ("编码", "Codec"),
    "focus.resolution": ("分辨率", "Resolution"),
    "focus.fps": ("帧率", "Frame rate"),
    "focus.bitrate": ("码率", "Bit rate"),
    "focus.loss": ("丢包率", "Packet loss"),
    "focus.jitter": ("抖动", "Jitter"),
    "focus.decoded": ("已解码帧", "Frames decoded"),
    "focus.dropped": ("丢弃帧", "Frames dropped"),
    "focus.rtt": ("往返时延", "Round trip"),
    "focus.audio": ("音频", "Audio"),
    "focus.station": ("名称", "Name"),
    "focus.county": ("县区", "County"),
    "focus.kind": ("类型", "Kind"),
    "focus.stream": ("视频流", "Stream"),
    "focus.since": ("开始直播", "On air since"),
    "focus.node": ("节点", "Node"),
    "focus.recording": ("录像", "Recording"),
    "focus.viewers": ("观看数", "Viewers"),
    "focus.not_live": (
        "该视频流当前未直播，恢复后自动连接。",
        "Not on air: plays as soon as it returns.",
    ),
}

i18n.MESSAGES.update(MESSAGES)

# What the wall's and focus view's scripts need, in the page's language.
SCRIPT_PREFIXES = ("wall.", "focus.", "presence.", "kind.")


def script_messages(translate: i18n.Translator) -> dict[str, Any]:
    return translate.messages(*SCRIPT_PREFIXES)
