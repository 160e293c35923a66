"""Refusals and error pages in both languages, merged into i18n.MESSAGES at import.

Refusals from signaling (`signaling.Refused`: AccountError, StationError) carry a key of
signaling.REFUSALS, whose English text is declared there; REFUSALS_ZH here has the
Chinese. `refusal(translate, exc)` shows one in the page's language.
"""

from __future__ import annotations

from signaling import REFUSALS, Refused

from . import i18n

REFUSALS_ZH: dict[str, str] = {
    "account.name": "用户名：小写字母、数字和 . _ -（最多 64 个字符）",
    "account.role": "角色：须为 {roles} 之一",
    "account.password_short": "密码至少 {min} 个字符",
    "account.password_long": "密码最多 {max} 个字符",
    "account.display_name": "姓名：1 至 128 个字符",
    "account.county": "县区：1 至 128 个可打印字符",
    "account.exists": "用户 {name!r} 已存在",
    "account.unknown": "没有用户 {name!r}",
    "account.disable_self": "不能停用自己的账户",
    "station.id": "工作站编号：须符合 [a-z0-9][a-z0-9_-]{{0,63}}",
    "station.county": "县区：1 至 128 个可打印字符",
    "station.name": "名称：1 至 128 个可打印字符",
    "station.kind": "类型：须为 {kinds} 之一",
    "station.no_streams": "工作站至少需要一个视频流编号",
    "station.too_many_streams": "每个工作站最多 {max} 个视频流",
    "station.stream_id": "视频流编号 {stream!r}：须符合 [a-z0-9][a-z0-9_-]{{0,63}}",
    "station.stream_twice": "同一视频流编号重复出现",
    "station.exists": "工作站 {station!r} 已存在",
    "station.unknown": "没有工作站 {station!r}",
    "station.stream_taken": "视频流 {stream!r} 已属于工作站 {owner!r}",
    "station.body": "请求体须为 JSON 对象",
    "station.streams_list": "streams：须为视频流编号列表",
    "station.field_string": "{field}：须为字符串",
}

MESSAGES: dict[str, tuple[str, str]] = {
    f"refused.{key}": (REFUSALS_ZH.get(key, ""), english) for key, english in REFUSALS.items()
} | {
    "forbidden.role": (
        "{role}角色无权执行此操作（需要：{needs}）",
        "The {role} role may not do this (needs: {needs})",
    ),
    "forbidden.or": ("或", " or "),
    "error.title.400": ("请求无效", "Bad request"),
    "error.title.404": ("未找到", "Not found"),
    "error.title.500": ("服务器错误", "Server error"),
    "error.date": ("不是有效日期（YYYY-MM-DD）：{value}", "Not a date (YYYY-MM-DD): {value}"),
    "error.too_long": ("{field}：超过 256 个字符", "{field}: longer than 256 characters"),
    "error.stream_id": (
        "视频流编号无效：{stream}（须符合 [a-z0-9][a-z0-9_-]{{0,63}}）",
        "Invalid stream id: {stream} (use [a-z0-9][a-z0-9_-]{{0,63}})",
    ),
    "error.no_stream": (
        "没有视频流 {stream}：该视频流未在直播，也未登记到任何工作站。",
        "No stream {stream}: it is not on air and no station lists it.",
    ),
    "error.no_station": ("没有工作站 {station}", "No station {station}"),
    "error.no_recording": ("没有录像 {recording}", "No recording {recording}"),
    "error.export_failed": ("证据包生成失败。", "The evidence package could not be built."),
    "error.home": ("返回首页", "Back to the start page"),
}

i18n.MESSAGES.update(MESSAGES)


def refusal(translate: i18n.Translator, exc: Refused) -> str:
    """A refusal's text in the translator's language."""
    return translate(f"refused.{exc.key}", **exc.params)
