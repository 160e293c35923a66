"""The console's message catalogue: Chinese (default) and English.

`?lang=en` or `?lang=zh` switches (and is remembered in the `lang` cookie). Templates get
`t(key, **values)` (the text in the page's language) and `bi(key, **values)` (in
Chinese: the Chinese text with the English as a small subtitle; in English: English).
Scripts get the messages they need as JSON (`messages(prefix)`).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from markupsafe import Markup, escape

logger = logging.getLogger(__name__)

LANGS = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"

MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("指挥调度台", "Command console"),
    "app.demo": ("演示", "demo"),
    "lang.other": ("English", "中文"),
    "nav.wall": ("集中显示", "Live wall"),
    "nav.archive": ("录像档案", "Archive"),
    "nav.stations": ("工作站", "Stations"),
    "nav.users": ("用户", "Users"),
    "nav.logout": ("退出", "Log out"),
    "role.commander": ("指挥员", "Commander"),
    "role.observer": ("观察员", "Observer"),
    "role.auditor": ("审计员", "Auditor"),
    "role.admin": ("管理员", "Administrator"),
    "role.prosecutor": ("公诉人", "Prosecutor"),
    "role.clerk": ("书记员", "Clerk"),
    "role.receptionist": ("接访员", "Receptionist"),
    "kind.courtroom": ("法庭", "Courtroom"),
    "kind.interrogation_room": ("讯问室", "Interrogation room"),
    "kind.reception_room": ("接访室", "Reception room"),
    "kind.detention_centre": ("看守所", "Detention centre"),
    "login.title": ("登录", "Log in"),
    "login.name": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码错误", "Wrong user name or password"),
    "login.throttled": (
        "登录失败次数过多，请 {minutes} 分钟后再试",
        "Too many failed logins: try again in {minutes} min",
    ),
    "login.expired": ("表单已过期，请重新登录", "The form expired: please log in again"),
    "forbidden.title": ("无权访问", "Forbidden"),
    "forbidden.text": ("您的角色无权使用此页面。", "Your role may not use this page."),
    "forbidden.home": ("返回首页", "Back to the start page"),
    "presence.online": ("在线", "online"),
    "presence.offline": ("离线", "offline"),
    "presence.last_seen": ("最后在线", "last seen"),
    "presence.never": ("从未上线", "never seen"),
    "stations.title": ("工作站管理", "Stations"),
    "stations.id": ("编号", "Id"),
    "stations.county": ("县区", "County"),
    "stations.name": ("名称", "Name"),
    "stations.kind": ("类型", "Kind"),
    "stations.streams": ("视频流", "Streams"),
    "stations.streams_hint": ("多个用逗号分隔", "comma-separated"),
    "stations.presence": ("状态", "Presence"),
    "stations.add": ("添加工作站", "Add a station"),
    "stations.edit": ("编辑", "Edit"),
    "stations.editing": ("编辑工作站", "Edit station"),
    "stations.delete": ("删除", "Delete"),
    "stations.save": ("保存", "Save"),
    "stations.saved": ("已保存", "Saved"),
    "stations.deleted": ("已删除", "Deleted"),
    "stations.empty": ("尚未登记工作站。", "No stations registered yet."),
    "users.title": ("用户管理", "Users"),
    "users.name": ("用户名", "User name"),
    "users.display_name": ("姓名", "Display name"),
    "users.role": ("角色", "Role"),
    "users.status": ("状态", "Status"),
    "users.created": ("创建时间", "Created"),
    "users.password": ("初始密码", "Initial password"),
    "users.add": ("添加用户", "Add a user"),
    "users.added": ("已添加", "Added"),
    "users.disable": ("停用", "Disable"),
    "users.enable": ("启用", "Enable"),
    "users.active": ("正常", "active"),
    "users.disabled": ("已停用", "disabled"),
    "users.changed": ("已更新", "Updated"),
    "wall.title": ("集中显示", "Live wall"),
    "wall.live_count": ("{n} 路直播", "{n} live streams"),
    "wall.connecting": ("连接中", "connecting"),
    "wall.live": ("直播", "live"),
    "archive.title": ("录像档案", "Archive"),
    "archive.pending": (
        "档案检索页面即将提供；可使用 /api/recordings。",
        "The archive page is coming; /api/recordings works now.",
    ),
}


def language(request: web.Request) -> str:
    """?lang= first, then the cookie, then Chinese."""
    for value in (request.query.get("lang"), request.cookies.get(COOKIE)):
        if value in LANGS:
            return value
    return DEFAULT


def remember(request: web.Request, response: web.StreamResponse) -> None:
    """Keep an explicit ?lang= choice in a cookie."""
    chosen = request.query.get("lang")
    if chosen in LANGS and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(
            COOKIE, chosen, max_age=365 * 86400, path="/", samesite="Lax", httponly=True
        )


class Translator:
    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else DEFAULT
        self._index = LANGS.index(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            logger.warning("no message %r", key)
            return key
        return pair[self._index].format(**values)

    def bi(self, key: str, **values: Any) -> Markup:
        """Chinese with an English subtitle; English alone when the page is English."""
        if self.lang == "en":
            return escape(self(key, **values))
        english = Translator("en")(key, **values)
        return Markup('{} <small lang="en">{}</small>').format(self(key, **values), english)

    def messages(self, *prefixes: str) -> dict[str, str]:
        """The messages under any of `prefixes` (for a page's script), unformatted."""
        return {k: v[self._index] for k, v in MESSAGES.items() if k.startswith(prefixes)}
