// Focus view: one stream large, with sound after a click (autoplay policy), the browser's
// detailed stats every second and the station's details from the server. Plays again by
// itself when the stream returns. Esc goes back to the wall.
import { connectEvents, showEventsState } from "./events.js";
import { fmtBitrate, fmtLoss, fmtResolution, LiveStream } from "./live.js";
import { csrfHeaders, localTime, loginAgain, messages } from "./session.js";

const STATE_KEYS = {
  connecting: "wall.connecting",
  live: "wall.live",
  stalled: "wall.stalled",
  offline: "wall.offline",
  reconnecting: "wall.reconnecting",
};

const root = document.getElementById("focus");
const id = root.dataset.stream;
const text = messages();
const video = document.getElementById("f-video");
const stream = new LiveStream(id, video, csrfHeaders(), showState, "high");
let checking = null;

function showState(state) {
  if (state === "live") detailsSoon(); // the viewer count now includes us
  root.dataset.state = state;
  document.getElementById("f-state").textContent = text[STATE_KEYS[state]];
  document.getElementById("f-overlay").hidden = !(state === "offline" || state === "reconnecting");
  if (state === "offline" || state === "reconnecting") root.dataset.framesDecoded = "0";
}

function put(attr, key, value) {
  const el = root.querySelector(`[${attr}="${key}"]`);
  if (el) el.textContent = value === null || value === undefined || value === "" ? "–" : value;
}

// The server's view: is it live, whose is it, is it recorded.
async function details() {
  let streams = null, stations = null;
  try {
    const [a, b] = await Promise.all([fetch("/api/streams"), fetch("/api/stations")]);
    if (a.status === 401 || b.status === 401) { loginAgain(); return; }
    if (a.ok) streams = (await a.json()).streams;
    if (b.ok) stations = (await b.json()).stations;
  } catch { return; }
  if (streams === null) return;
  const info = streams.find((s) => s.id === id);
  const station = (stations || []).find((s) => s.streams.includes(id));
  const name = station ? station.name : info ? info.station : id;
  document.getElementById("f-name").textContent = name;
  document.getElementById("f-county").textContent = station ? station.county : "";
  document.title = `${name} — vdispatch`;
  put("data-detail", "station", name);
  put("data-detail", "county", station && station.county);
  put("data-detail", "kind", station && (text[`kind.${station.kind}`] || station.kind));
  put("data-detail", "since", info && localTime(new Date(info.since * 1000).toISOString()));
  put("data-detail", "viewers", info && String(info.viewers));
  put("data-detail", "node", info && info.node);
  const recording = Boolean(info && info.recording);
  root.dataset.recording = recording ? "true" : "false";
  document.getElementById("f-rec").hidden = !recording;
  put("data-detail", "recording", info ? (recording ? text["wall.rec_on"] : text["wall.rec_off"]) : "");
  if (info) stream.up(); else stream.down();
}

function detailsSoon() {
  if (checking) return;
  checking = setTimeout(() => { checking = null; details(); }, 100);
}

async function sample() {
  const s = await stream.sample();
  if (!s) return;
  root.dataset.framesDecoded = String(s.framesDecoded);
  put("data-stat", "codec", [s.videoCodec, s.audioCodec].filter(Boolean).join(" / "));
  put("data-stat", "resolution", fmtResolution(s));
  put("data-stat", "fps", `${s.fps.toFixed(0)} fps`);
  put("data-stat", "bitrate", fmtBitrate(s.kbps));
  put("data-stat", "loss", fmtLoss(s.loss));
  put("data-stat", "jitter", s.jitterMs === null ? null : `${s.jitterMs.toFixed(1)} ms`);
  put("data-stat", "decoded", String(s.framesDecoded));
  put("data-stat", "dropped", String(s.framesDropped));
  put("data-stat", "rtt", s.rttMs === null ? null : `${s.rttMs.toFixed(1)} ms`);
  const level = document.querySelector('[data-stat="audio"]');
  level.dataset.muted = video.muted ? "true" : "false";
  level.title = video.muted ? text["focus.muted"] : "";
  const bar = level.querySelector("i");
  if (bar) bar.style.width = `${s.audioLevel === null ? 0 : Math.min(100, Math.round(s.audioLevel * 400))}%`;
}

function setMuted(muted) {
  video.muted = muted;
  const button = document.getElementById("sound");
  button.dataset.muted = muted ? "true" : "false";
  button.textContent = muted ? text["focus.unmute"] : text["focus.mute"];
  if (!muted) video.play().catch(() => {});
}

document.getElementById("sound").addEventListener("click", () => setMuted(!video.muted));
video.addEventListener("click", () => setMuted(!video.muted));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") location.assign("/");
  else if (e.key === "m" || e.key === "M") setMuted(!video.muted);
});
window.addEventListener("pagehide", () => stream.stop());

connectEvents((event) => {
  const data = event.data || {};
  if (event.topic === "hello") { detailsSoon(); return; }
  if (data.stream !== id) return;
  if (event.topic === "stream.down") stream.down();
  if (event.topic === "stream.up") stream.retryNow();
  detailsSoon();
}, showEventsState);
showState("connecting");
details();
setInterval(details, 10000);
setInterval(sample, 1000);
