"""Petition reception's messages (the county kiosk /kiosk/{station}, the receptionists'
/reception) and its audit actions, merged into i18n.MESSAGES and i18n_archive.ACTIONS at
import (kept apart from i18n.py, like i18n_dispatch.py)."""

from __future__ import annotations

from typing import Any

from . import i18n, i18n_archive

ACTIONS: dict[str, tuple[str, str]] = {
    "reception.enqueue": ("信访人排队", "petitioner queued"),
    "reception.abandon": ("信访人离开", "petitioner left the queue"),
    "reception.accept": ("受理接访", "reception accepted"),
    "reception.bind": ("接访关联会话", "reception bound to its session"),
    "reception.close": ("接访办结", "reception closed"),
    "reception.kiosk.link": ("生成接访终端链接", "kiosk link made"),
    "reception.kiosk.revoke": ("撤销接访终端链接", "kiosk link revoked"),
    "reception.hangup": ("信访人离开通话", "petitioner left the call"),
}

MESSAGES: dict[str, tuple[str, str]] = {
    "nav.reception": ("远程接访", "Reception"),
    "reception.title": ("远程接访", "Petition reception"),
    "reception.queue": ("候访队列", "Waiting queue"),
    "reception.empty": ("目前无人候访。", "Nobody is waiting."),
    "reception.place": ("序号", "Place"),
    "reception.county": ("县区", "County"),
    "reception.station": ("接访室", "Reception room"),
    "reception.petitioner": ("信访人", "Petitioner"),
    "reception.contact": ("联系方式", "Contact"),
    "reception.subject": ("事由", "Subject"),
    "reception.waited": ("已等待", "Waited"),
    "reception.minutes": ("{n} 分钟", "{n} min"),
    "reception.accept": ("接访", "Accept"),
    "reception.taken": ("该信访人已被其他接访员受理", "Another receptionist took this petitioner"),
    "reception.failed": ("操作失败（{status}）", "Failed ({status})"),
    "reception.mine": ("我的接访", "My receptions"),
    "reception.session": ("接访会话", "Reception session"),
    "reception.open_session": ("进入会话", "Open the session"),
    "reception.outcome": ("办理结果", "Outcome"),
    "reception.matter": ("反映事项", "Matter"),
    "reception.reply": ("答复意见", "Reply given"),
    "reception.follow_up": ("后续处理", "Follow-up"),
    "reception.department": ("承办部门", "Department"),
    "reception.close": ("办结", "Close the reception"),
    "reception.closed": ("已办结", "Closed"),
    "reception.call_connecting": ("正在接通……", "Connecting…"),
    "reception.call_waiting": ("等待信访人画面……", "Waiting for the petitioner's picture…"),
    "reception.call_reconnecting": ("连接中断，正在重连……", "Connection lost, reconnecting…"),
    "reception.call_live": ("通话中", "In the call"),
    "reception.no_camera": (
        "无法使用摄像头或麦克风：请检查设备与浏览器权限",
        "No camera or microphone: check the devices and the browser's permission",
    ),
    "reception.left_call": ("信访人已离开通话", "The petitioner left the call"),
    "reception.sound": ("开启声音", "Turn the sound on"),
    "reception.live": ("实时", "live"),
    "reception.offline": ("连接中断，正在重连", "disconnected, reconnecting"),
    "kiosk.title": ("远程视频接访", "Video reception"),
    "kiosk.intro": (
        "请填写以下信息，申请与市院接访人员视频通话。",
        "Fill in this form to ask for a video call with the city's reception staff.",
    ),
    "kiosk.name": ("姓名", "Name"),
    "kiosk.contact": ("联系电话", "Phone"),
    "kiosk.subject": ("反映事项（简要）", "What it is about (briefly)"),
    "kiosk.submit": ("申请接访", "Request a reception"),
    "kiosk.place": ("您的序号：第 {place} 位", "Your place: {place}"),
    "kiosk.wait": ("预计等待约 {minutes} 分钟", "About {minutes} min to wait"),
    "kiosk.accepted": (
        "接访人员已受理，请面向摄像头。",
        "A receptionist has taken your request: please face the camera.",
    ),
    "kiosk.closed": ("接访已结束，谢谢。", "The reception has ended. Thank you."),
    "kiosk.abandoned": ("您已离开队列。", "You have left the queue."),
    "kiosk.call_connecting": ("正在接通接访人员，请稍候……", "Connecting to the receptionist…"),
    "kiosk.call_reconnecting": ("连接中断，正在重新连接……", "Connection lost, reconnecting…"),
    "kiosk.call_live": ("正在通话，请面向摄像头", "In the call: please face the camera"),
    "kiosk.call_leave": ("结束通话", "End the call"),
    "kiosk.sound": ("点击开启声音", "Tap to turn the sound on"),
    "kiosk.no_camera": (
        "无法使用摄像头或麦克风，请联系工作人员。",
        "The camera or microphone does not work: please ask the staff.",
    ),
    "kiosk.thanks": (
        "接访已结束，感谢您的来访。",
        "The reception has ended. Thank you for coming.",
    ),
    "kiosk.left": ("您已结束通话，谢谢。", "You ended the call. Thank you."),
    "kiosk.revoked": (
        "此接访终端链接已被撤销，请联系工作人员。",
        "This kiosk link was revoked: please ask the staff.",
    ),
    "kiosk.leave": ("离开队列", "Leave the queue"),
    "kiosk.again": ("新的申请", "A new request"),
    "kiosk.too_long": ("填写内容过长，请精简。", "Too long: please shorten it."),
    "kiosk.missing": ("请填写全部信息。", "Please fill in every field."),
    "kiosk.busy": ("队列已满，请稍后再试。", "The queue is full: please try again later."),
    "kiosk.failed": ("提交失败（{status}），请联系工作人员。", "Failed ({status}): ask the staff."),
    "kiosk_link.title": ("接访终端链接", "Kiosk link"),
    "kiosk_link.none": ("尚无有效链接。", "No valid link."),
    "kiosk_link.made": (
        "当前链接由 {by} 于 {at} 生成，{expires} 到期。",
        "The current link was made by {by} at {at}; it expires at {expires}.",
    ),
    "kiosk_link.expired": ("（已过期）", "(expired)"),
    "kiosk_link.make": (
        "生成新链接（旧链接立即失效）",
        "Make a new link (the old one stops at once)",
    ),
    "kiosk_link.revoke": ("撤销链接", "Revoke the link"),
    "kiosk_link.revoked": ("链接已撤销，终端已无法使用。", "Revoked: the kiosk cannot be used."),
    "kiosk_link.url": (
        "新链接（仅显示一次，请在接访室终端上打开）：",
        "The new link (shown once: open it on the reception room's kiosk):",
    ),
    "kiosk_link.failed": ("操作失败（{status}）", "Failed ({status})"),
    "error.kiosk_revoked": (
        "此接访终端链接已被撤销，请联系管理员",
        "This kiosk link was revoked: ask an administrator",
    ),
    "error.kiosk_link": (
        "接访终端链接无效或已过期，请联系管理员",
        "The kiosk link is invalid or expired: ask an administrator",
    ),
}
MESSAGES |= {f"action.{k}": pair for k, pair in ACTIONS.items()}

i18n_archive.ACTIONS.update(ACTIONS)
i18n.MESSAGES.update(MESSAGES)


def script_messages(translate: i18n.Translator, prefix: str) -> dict[str, Any]:
    return translate.messages(prefix)
