"""The hearing sessions' messages, merged into i18n.MESSAGES at import (kept apart from
i18n.py, like i18n_archive.py)."""

from __future__ import annotations

from . import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.sessions": ("庭审会话", "Sessions"),
    "sessions.title": ("庭审会话", "Hearing sessions"),
    "sessions.empty": ("没有会话。", "No sessions."),
    "sessions.kind": ("类型", "Kind"),
    "sessions.state": ("状态", "State"),
    "sessions.county": ("县区", "County"),
    "sessions.station": ("工作站", "Station"),
    "sessions.case_no": ("案号", "Case no."),
    "sessions.title_col": ("名称", "Title"),
    "sessions.scheduled_for": ("计划时间", "Scheduled"),
    "sessions.started_at": ("开始", "Started"),
    "sessions.ended_at": ("结束", "Ended"),
    "sessions.director": ("指挥", "Director"),
    "sessions.your_part": ("您的身份", "Your part"),
    "sessions.any": ("全部", "Any"),
    "sessions.filter": ("筛选", "Filter"),
    "kind.direction": ("远程出庭指挥", "Courtroom direction"),
    "kind.interrogation": ("远程提讯", "Remote interrogation"),
    "kind.reception": ("远程接访", "Petition reception"),
    "state.scheduled": ("待开始", "scheduled"),
    "state.live": ("进行中", "live"),
    "state.ended": ("已结束", "ended"),
    "state.sealed": ("已封存", "sealed"),
    "part.director": ("指挥员", "director"),
    "part.prosecutor": ("出庭公诉人", "prosecutor in court"),
    "part.observer": ("观摩员", "observer"),
    "part.clerk": ("书记员", "clerk"),
}
i18n.MESSAGES.update(MESSAGES)
