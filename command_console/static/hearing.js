// One hearing session's page. The server rendered the panels this viewer's part has;
// this script fills them from /api/sessions/{id}, keeps them live from the event socket
// (session.*, direction.*, comment.*: the server sends each only to its audience) and
// runs the media (hearing_media.js). A start or an end reloads the page: its panels
// follow the state.
import { connectEvents, showEventsState } from "./events.js";
import { AudioChannel, CityPublisher, PushToTalk, Stage } from "./hearing_media.js";
import { bindEvaluation, Comments, Directions, mediaClock } from "./hearing_panels.js";
import { startRecord } from "./hearing_record.js";
import { api, showRefusal } from "./sessions_api.js";
import { format, localTime, messages } from "./session.js";

const STREAMS_EVERY = 2000; // ms between looks at which streams are on air

const text = messages();
const config = JSON.parse(document.getElementById("hearing-config").textContent);
const root = document.getElementById("hearing");
const base = `/api/sessions/${encodeURIComponent(config.id)}`;
const errorEl = document.getElementById("h-error");
const live = config.state === "live";
// An interrogation's director connects (city camera, talk-back) before the start: the
// start does not reload the page then, or the city picture would drop as it goes live.
const mediaOn = live || config.early;
let starting = false;
const part = config.part;
const closers = [];
// For diagnostics (getStats) from devtools or tests.
const hearing = (window.hearing = { config });

// ------------------------------------------------------------------ clock, start, end

function tick() {
  if (!config.started_at) return;
  const end = config.ended_at ? Date.parse(config.ended_at) : Date.now();
  document.getElementById("clock").textContent = mediaClock((end - Date.parse(config.started_at)) / 1000);
}
tick();
if (live) setInterval(tick, 1000);

async function run(action, button) {
  button.disabled = true;
  starting = action === "start";
  const answer = await api(`${base}/${action}`, {});
  starting = false;
  if (answer.ok) errorEl.replaceChildren(); // an earlier refusal is no longer the case
  if (answer.ok && action === "start" && config.early) goLive(answer.data);
  else if (answer.ok) location.reload();
  else { button.disabled = false; showRefusal(errorEl, text, answer); }
}

function goLive(session) {
  Object.assign(config, { state: "live", started_at: session.started_at, early: false });
  root.dataset.state = "live";
  document.getElementById("h-state").textContent = text["state.live"];
  const notStarted = document.getElementById("not-started");
  if (notStarted) notStarted.remove();
  startButton.remove();
  endButton.hidden = false;
  comments.startedAt = session.started_at;
  tick();
  setInterval(tick, 1000);
}

const startButton = document.getElementById("start");
if (startButton) startButton.addEventListener("click", () => run("start", startButton));
const endButton = document.getElementById("end");
if (endButton) {
  endButton.addEventListener("click", () => {
    if (endButton.dataset.confirm === "true") { run("end", endButton); return; }
    endButton.dataset.confirm = "true";
    endButton.textContent = text["hearing.end_confirm"];
    setTimeout(() => {
      endButton.dataset.confirm = "false";
      endButton.textContent = text["hearing.end"];
    }, 4000);
  });
}

// ------------------------------------------------------------------ text panels

const directions = document.getElementById("direction-list")
  ? new Directions(base, text, { inbox: part === "prosecutor" })
  : null;
const comments = new Comments(base, text, config.started_at);
if (directions && part === "director") directions.bindForm(errorEl);
comments.bindForm(errorEl);
bindEvaluation(base, text, errorEl);
hearing.directions = directions;
const record = (hearing.record = startRecord(base, text, config));

async function load() {
  const answer = await api(base);
  if (!answer.ok) { showRefusal(errorEl, text, answer); return; }
  // A state change told while this page was loading (ended, then sealed at once): the
  // socket opened after it, so the page asks rather than waits for an event gone by.
  if (!starting && answer.data.state !== config.state) { location.reload(); return; }
  if (directions) for (const d of answer.data.directions) directions.show(d);
  for (const c of answer.data.comments) comments.show(c);
  showInterruptions(answer.data.interruptions || []);
}

// An interrogation's stream or recording interrupted: an alarm on both sides' pages
// until it is back (session.interruption / session.interruption-ended).
const alarmEl = document.getElementById("h-alarm");
const interrupted = new Map(); // interruption id -> the open interruption

function showInterruptions(list) {
  for (const i of list) {
    if (i.ended_at) interrupted.delete(i.id);
    else interrupted.set(i.id, i);
  }
  if (!alarmEl) return;
  const open = [...interrupted.values()];
  alarmEl.hidden = open.length === 0;
  alarmEl.textContent = open
    .map((i) => format(text["hearing.interruption"], { stream: i.stream, since: localTime(i.started_at) }))
    .join(" · ");
}

// ------------------------------------------------------------------ media

let stage = null;
const audio = new Map(); // "talkback" | "reply" -> AudioChannel

async function microphone() {
  return navigator.mediaDevices.getUserMedia({ audio: true });
}

function startMedia() {
  if (document.getElementById("stage")) {
    // The director sees the own city picture as a local preview; the prosecutor
    // terminal needs no court video, only the city picture.
    stage = new Stage(config.id, text, {
      skip: (info) => (part === "director" && info.source === "city") ||
        (part === "prosecutor" && info.source !== "city"),
    });
    hearing.stage = stage;
    closers.push(() => stage.stop());
  }
  const cityRoot = document.getElementById("city");
  if (cityRoot) {
    const city = (hearing.city = new CityPublisher(config.id, cityRoot, text));
    closers.push(() => city.closeOnUnload());
  }
  // Push-to-talk out (the director's talk-back, the prosecutor's reply) and the audio in.
  if (part !== "director" && part !== "prosecutor") return;
  const [out, inbound] = part === "director" ? ["talkback", "reply"] : ["reply", "talkback"];
  const pttRoot = document.getElementById(part === "director" ? "talkback" : "reply");
  const talk = new PushToTalk(
    config.id, out, pttRoot, pttRoot.querySelector("button"), pttRoot.querySelector(".dim"), text,
  );
  hearing.ptt = talk;
  closers.push(() => talk.close());
  microphone().then((mic) => talk.connect(mic), () => {
    talk.channel("failed");
    errorEl.textContent = text["hearing.no_camera"];
  });
  const inRoot = document.getElementById(part === "director" ? "reply-in" : "earpiece");
  const inState = document.getElementById(part === "director" ? "reply-state" : "earpiece-state");
  const [liveKey, idleKey] = part === "director"
    ? ["hearing.reply_live", "hearing.reply_idle"]
    : ["hearing.earpiece_live", "hearing.earpiece_idle"];
  const channel = new AudioChannel(config.id, `${config.id}-${inbound}`, inRoot.querySelector("audio"),
    inRoot, (talking) => { inState.textContent = text[talking ? liveKey : idleKey]; });
  audio.set(inbound, channel);
  hearing[part === "director" ? "reply" : "earpiece"] = channel;
  closers.push(() => channel.stop());
  const enable = document.getElementById("earpiece-on");
  if (enable) {
    // Browsers play sound after a click on the page: one click turns the earpiece on.
    enable.addEventListener("click", () => {
      inRoot.querySelector("audio").play().catch(() => {});
      enable.hidden = true;
    });
  }
}

async function watchStreams() {
  const answer = await api(`${base}/streams`).catch(() => null);
  if (answer && answer.ok) {
    const streams = answer.data.streams;
    if (stage) stage.update(streams);
    for (const [suffix, channel] of audio) {
      channel.update(streams.find((s) => s.source === suffix));
    }
  }
  if (!stopped) watchTimer = setTimeout(watchStreams, STREAMS_EVERY);
}

// ------------------------------------------------------------------ events

function onEvent(event) {
  const data = event.data || {};
  const mine = (x) => x && x.session === config.id;
  if (event.topic === "session.started" || event.topic === "session.ended") {
    if (starting && event.topic === "session.started") return; // goLive, once answered
    if (data.session && data.session.id === config.id && data.session.state !== config.state) {
      location.reload();
    }
  } else if (event.topic === "direction.sent" || event.topic === "direction.read") {
    if (directions && mine(data.direction)) directions.show(data.direction, event.topic === "direction.sent");
  } else if (event.topic === "comment.posted") {
    if (mine(data.comment)) comments.show(data.comment);
  } else if (event.topic === "session.record") {
    if (record && mine(data.record)) record.changed(data.record);
  } else if (event.topic === "session.interruption" || event.topic === "session.interruption-ended") {
    if (data.session && data.session.id === config.id && data.interruption) {
      showInterruptions([data.interruption]);
    }
  } else if (event.topic === "session.sealed") {
    if (data.session && data.session.id === config.id && config.state !== "sealed") location.reload();
  }
}

let stopped = false;
let watchTimer = null;
const events = connectEvents(onEvent, (state) => {
  showEventsState(state);
  if (state === "open") load(); // and again after a reconnect: nothing missed
});
if (mediaOn && part) {
  startMedia();
  watchStreams();
}
window.addEventListener("pagehide", () => {
  stopped = true;
  clearTimeout(watchTimer);
  events.close();
  for (const close of closers) close();
});
root.dataset.ready = "true";
