// The county kiosk: a petitioner's short form, then their place in the city's queue and
// the estimated wait (polled with the kiosk link's token); the ticket is kept in the
// browser so a reload keeps the place. Once a receptionist accepts it, the full-screen
// call: the kiosk's camera and microphone out, the receptionist's picture and sound in,
// each with a short-lived call token the server mints for this ticket. The reception
// closed, or the petitioner leaving, ends the call and thanks them on the start screen.
// A revoked link (401) stops everything. No console session: the token is the credential.
import { Call } from "./reception_call.js";
import { format, messages } from "./session.js";

const text = messages();
const root = document.getElementById("kiosk");
const station = root.dataset.station;
const token = root.dataset.token;
const form = document.getElementById("kiosk-form");
const wait = document.getElementById("kiosk-wait");
const place = document.getElementById("kiosk-place");
const estimate = document.getElementById("kiosk-estimate");
const error = document.getElementById("kiosk-error");
const leave = document.getElementById("kiosk-leave");
const again = document.getElementById("kiosk-again");
const thanks = document.getElementById("kiosk-thanks");
const revokedEl = document.getElementById("kiosk-revoked");
const callEl = document.getElementById("kiosk-call");
const callState = document.getElementById("call-state");
const callLeave = document.getElementById("call-leave");
const sound = document.getElementById("call-sound");
const KEY = `kiosk-ticket:${station}`;
const POLL_MS = 2000;
const THANKS_MS = 20000;
const CALL_STATES = {
  connecting: text["kiosk.call_connecting"],
  waiting: text["kiosk.call_connecting"],
  reconnecting: text["kiosk.call_reconnecting"],
  live: text["kiosk.call_live"],
  no_camera: text["kiosk.no_camera"],
};
let timer = null;
let thanksTimer = null;
let call = null; // the Call while one is on
let revoked = false;
// For diagnostics (getStats) from devtools or tests.
const kiosk = (window.kiosk = { call: null });

async function request(path, method = "GET", body = undefined) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const raw = await resp.text();
  let data = raw;
  try { data = JSON.parse(raw); } catch { /* a refusal's plain text */ }
  if (resp.status === 401) showRevoked();
  return { ok: resp.ok, status: resp.status, data };
}

function refusal(answer) {
  const byStatus = { 400: "kiosk.missing", 413: "kiosk.too_long", 429: "kiosk.busy" };
  const key = byStatus[answer.status];
  error.textContent = key ? text[key] : format(text["kiosk.failed"], { status: answer.status });
  error.title = typeof answer.data === "string" ? answer.data.trim() : "";
}

function show(ticket) {
  if (ticket.state === "accepted" && ticket.session && !ticket.left_call_at) {
    startCall(ticket);
    return;
  }
  if (call) { endCall(ticket.state === "closed" ? "kiosk.thanks" : "kiosk.left"); return; }
  root.dataset.state = ticket.state;
  form.hidden = true;
  wait.hidden = false;
  error.textContent = "";
  leave.hidden = ticket.state !== "waiting";
  again.hidden = ticket.state === "waiting" || ticket.state === "accepted";
  estimate.textContent = "";
  if (ticket.state === "waiting") {
    place.textContent = format(text["kiosk.place"], { place: ticket.place });
    estimate.textContent = format(text["kiosk.wait"], { minutes: ticket.estimated_minutes });
  } else if (ticket.state === "accepted" && ticket.left_call_at) {
    reset("kiosk.left"); // they left the call: the receptionist closes the reception
  } else if (ticket.state === "accepted") {
    place.textContent = text["kiosk.accepted"]; // its session is on the way: the call next
  } else if (ticket.state === "closed") {
    reset("kiosk.thanks");
  } else {
    place.textContent = text["kiosk.abandoned"];
  }
  if (ticket.state !== "waiting" && ticket.state !== "accepted") stop();
}

// ------------------------------------------------------------------ the call

function startCall(ticket) {
  if (call) return;
  root.dataset.state = "call";
  root.dataset.session = ticket.session;
  callEl.hidden = false;
  wait.hidden = true;
  form.hidden = true;
  callState.textContent = CALL_STATES.connecting;
  const media = `/api/reception/queue/${encodeURIComponent(ticket.id)}/media`;
  call = kiosk.call = new Call({
    preview: document.getElementById("call-preview"),
    remote: document.getElementById("call-remote"),
    grant: async (direction) => {
      const answer = await request(media, "POST", { direction });
      if (answer.ok) return answer.data;
      const refused = new Error(`call ${answer.status}`);
      refused.status = answer.status;
      throw refused;
    },
    onState: (side, state) => {
      callEl.dataset[side] = state;
      // What the petitioner needs to know: whether the receptionist is there.
      const shown = state === "no_camera" ? state : callEl.dataset.view || "waiting";
      callState.textContent = CALL_STATES[shown] || CALL_STATES.connecting;
    },
    onRefused: () => poll(), // the reception closed, or the link revoked: the poll says
    onMuted: (muted) => { sound.hidden = !muted; },
  });
  call.start();
}

async function endCall(key) {
  const ending = call;
  call = kiosk.call = null;
  callEl.hidden = true;
  delete callEl.dataset.publish;
  delete callEl.dataset.view;
  delete root.dataset.session;
  if (ending) await ending.stop();
  reset(key);
}

callLeave.addEventListener("click", async () => {
  callLeave.disabled = true;
  const id = localStorage.getItem(KEY);
  if (id) await request(`/api/reception/queue/${encodeURIComponent(id)}/leave`, "POST").catch(() => {});
  callLeave.disabled = false;
  await endCall("kiosk.left");
});

sound.addEventListener("click", () => { if (call) call.unmute(); });

// ------------------------------------------------------------------ the queue

// Back to the start screen; `key`: a word of thanks shown there for a while.
function reset(key = null) {
  stop();
  localStorage.removeItem(KEY);
  form.reset();
  form.hidden = false;
  wait.hidden = true;
  root.dataset.state = "form";
  clearTimeout(thanksTimer);
  thanks.hidden = !key;
  thanks.textContent = key ? text[key] : "";
  if (key) thanksTimer = setTimeout(() => { thanks.hidden = true; }, THANKS_MS);
}

function showRevoked() {
  if (revoked) return;
  revoked = true;
  stop();
  if (call) { const ending = call; call = kiosk.call = null; ending.stop(); }
  localStorage.removeItem(KEY);
  callEl.hidden = true;
  form.hidden = true;
  wait.hidden = true;
  thanks.hidden = true;
  revokedEl.hidden = false;
  root.dataset.state = "revoked";
}

function stop() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}

async function poll() {
  const id = localStorage.getItem(KEY);
  if (!id || revoked) return;
  try {
    const answer = await request(`/api/reception/queue?ticket=${encodeURIComponent(id)}`);
    if (answer.ok) show(answer.data);
    else if (answer.status === 404 || answer.status === 403) {
      if (call) endCall(null); else reset();
    }
  } catch { /* the node is away: keep polling */ }
}

function follow() {
  stop();
  poll();
  timer = setInterval(poll, POLL_MS);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = Object.fromEntries(new FormData(form).entries());
  const answer = await request("/api/reception/queue", "POST", data);
  if (!answer.ok) { if (!revoked) refusal(answer); return; }
  localStorage.setItem(KEY, answer.data.id);
  form.reset(); // the petitioner's details do not stay on the screen
  thanks.hidden = true;
  show(answer.data);
  follow();
});

leave.addEventListener("click", async () => {
  const id = localStorage.getItem(KEY);
  if (!id) return;
  const answer = await request(`/api/reception/queue/${encodeURIComponent(id)}/leave`, "POST");
  if (answer.ok) show(answer.data); else if (!revoked) refusal(answer);
});

again.addEventListener("click", () => reset());

window.addEventListener("pagehide", () => { if (call) call.closeOnUnload(); });

if (localStorage.getItem(KEY)) follow();
