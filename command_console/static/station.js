// Station page: camera + microphone, published over WHIP with the page's station token.
import { whipPublish } from "./whip.js";

const root = document.getElementById("station");
const { stream: streamId, token } = root.dataset;
// ?simulcast=1 in the station's link: 720p in three layers (docs/operations.md, Simulcast)
const simulcast = new URLSearchParams(location.search).get("simulcast") === "1";
const VIDEO = simulcast ? { width: { ideal: 1280 }, height: { ideal: 720 } } : true;
const preview = document.getElementById("preview");
const stateEl = document.getElementById("state");
const errorEl = document.getElementById("error");
const button = document.getElementById("toggle");

const LABELS = {
  idle: ["未推流", "idle"],
  camera: ["正在打开摄像头", "opening camera"],
  new: ["正在连接", "connecting"],
  connecting: ["正在连接", "connecting"],
  connected: ["推流中", "live"],
  disconnected: ["连接中断", "disconnected"],
  failed: ["连接失败", "failed"],
  closed: ["已停止", "stopped"],
  error: ["出错", "error"],
};

let media = null;
let session = null;
let generation = 0; // a newer start or stop makes older attempts and their events stale

function show(state, detail = "") {
  const [zh, en] = LABELS[state] || [state, state];
  stateEl.innerHTML = "";
  stateEl.append(`● ${zh} `, Object.assign(document.createElement("small"), { textContent: en }));
  root.dataset.state = state;
  errorEl.textContent = detail;
  const running = ["camera", "new", "connecting", "connected", "disconnected"].includes(state);
  button.dataset.action = running ? "stop" : "start";
  button.innerHTML = running ? "停止 <small>Stop</small>" : "开始推流 <small>Publish</small>";
}

async function closeSession() {
  const s = session;
  session = null;
  if (s) await s.close();
}

async function start() {
  const gen = ++generation;
  await closeSession();
  show("camera");
  try {
    media = media || (await navigator.mediaDevices.getUserMedia({ video: VIDEO, audio: true }));
    preview.srcObject = media;
    if (gen !== generation) return;
    show("new");
    const s = await whipPublish(streamId, token, media, {
      simulcast,
      onState: (state) => { if (gen === generation) show(state); },
    });
    if (gen !== generation) return void s.close();
    session = s;
    window.whipSession = s; // for diagnostics (getStats) from devtools or tests
    show(s.pc.connectionState);
  } catch (e) {
    if (gen === generation) show("error", e.message || String(e));
  }
}

async function stop() {
  generation++;
  await closeSession();
  show("closed");
}

button.addEventListener("click", () => (button.dataset.action === "stop" ? stop() : start()));
window.addEventListener("pagehide", () => {
  generation++;
  if (session) session.closeOnUnload();
  session = null;
});
// Back from the back/forward cache: the session was stopped on the way out.
window.addEventListener("pageshow", (ev) => { if (ev.persisted) show("closed"); });

if (!navigator.mediaDevices) show("error", "摄像头需要 HTTPS 访问 · camera access needs HTTPS (or localhost)");
else if (token) start();
else show("error", "链接缺少令牌 · the link has no token");
