// The receptionists' page: the city's queue across counties (live: reception.* events
// say something changed, the page reads the queue again; personal data never travels
// in events), accept the next petitioner (409: another receptionist took them), and the
// outcome form of one's open receptions, each with its call: the receptionist's camera
// and microphone as the session's city picture, the kiosk's picture and sound played
// (reception_call.js); closing the reception, or the petitioner leaving, ends the call.
// Text goes in with textContent: never as HTML.
import { connectEvents } from "./events.js";
import { Call } from "./reception_call.js";
import { api, mediaToken } from "./sessions_api.js";
import { format, messages } from "./session.js";

const text = messages();
const body = document.querySelector("#reception-queue tbody");
const empty = document.getElementById("reception-empty");
const count = document.getElementById("reception-count");
const mine = document.getElementById("reception-mine");
const error = document.getElementById("reception-error");
const live = document.getElementById("reception-live");
const REFRESH_MS = 15000; // waiting times tick on even without events
const CALL_STATES = {
  connecting: text["reception.call_connecting"],
  waiting: text["reception.call_waiting"],
  reconnecting: text["reception.call_reconnecting"],
  live: text["reception.call_live"],
  no_camera: text["reception.no_camera"],
};
const calls = new Map(); // ticket id -> its Call
// For diagnostics (getStats) from devtools or tests.
window.reception = { calls };

function cell(row, value) {
  const td = document.createElement("td");
  td.textContent = value ?? "";
  row.append(td);
  return td;
}

function minutes(seconds) {
  return format(text["reception.minutes"], { n: Math.floor(seconds / 60) });
}

function refused(answer) {
  error.textContent = answer.status === 409
    ? text["reception.taken"]
    : format(text["reception.failed"], { status: answer.status });
  error.title = typeof answer.data === "string" ? answer.data.trim() : "";
}

function field(form, name, label, multiline) {
  const wrap = document.createElement("label");
  wrap.textContent = label;
  const input = document.createElement(multiline ? "textarea" : "input");
  input.name = name;
  wrap.append(input);
  form.append(wrap);
}

function outcomeForm(ticket) {
  const card = document.createElement("div");
  card.className = "reception-card";
  const title = document.createElement("p");
  title.textContent = `${ticket.county} · ${ticket.petitioner} · ${ticket.contact} · ${ticket.subject}`;
  const link = document.createElement("a");
  link.href = `/sessions/${encodeURIComponent(ticket.session || "")}`;
  link.textContent = text["reception.open_session"];
  const form = document.createElement("form");
  form.className = "outcome";
  const heading = document.createElement("b");
  heading.textContent = text["reception.outcome"];
  form.append(heading);
  field(form, "matter", text["reception.matter"], false);
  field(form, "reply", text["reception.reply"], true);
  field(form, "follow_up", text["reception.follow_up"], true);
  field(form, "department", text["reception.department"], false);
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.textContent = text["reception.close"];
  form.append(submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    const answer = await api(`/api/reception/queue/${encodeURIComponent(ticket.id)}/close`, data);
    if (answer.ok) { endCall(ticket.id); refresh(); } else refused(answer);
  });
  card.append(title, link, callPanel(ticket, card), form);
  return card;
}

// The kiosk's picture and sound, one's own preview, the call's state; the call starts
// with the card and stops when the reception is closed or the petitioner left.
function callPanel(ticket, card) {
  const panel = document.createElement("div");
  panel.className = "reception-call";
  const remote = document.createElement("video");
  Object.assign(remote, { autoplay: true, playsInline: true, className: "call-remote" });
  const preview = document.createElement("video");
  Object.assign(preview, { autoplay: true, muted: true, playsInline: true, className: "call-preview" });
  const side = document.createElement("div");
  const state = document.createElement("p");
  state.className = "call-state";
  state.textContent = CALL_STATES.connecting;
  const left = document.createElement("p");
  left.className = "call-left";
  left.textContent = text["reception.left_call"];
  left.hidden = true;
  const sound = document.createElement("button");
  sound.type = "button";
  sound.textContent = text["reception.sound"];
  sound.hidden = true;
  side.append(state, left, sound);
  panel.append(remote, preview, side);
  if (!ticket.session || ticket.left_call_at) return panel;
  let kioskStream = null;
  const call = new Call({
    preview,
    remote,
    grant: async (direction) => {
      if (direction === "publish") return mediaToken(ticket.session, "publish", "city");
      if (!kioskStream) {
        const answer = await api(`/api/sessions/${encodeURIComponent(ticket.session)}/streams`);
        const found = answer.ok ? answer.data.streams.find((s) => s.source === "station") : null;
        if (!found) throw Object.assign(new Error("no kiosk stream"), { status: answer.status });
        kioskStream = found.id;
      }
      return mediaToken(ticket.session, "view", kioskStream);
    },
    onState: (which, value) => {
      card.dataset[which === "publish" ? "publish" : "view"] = value;
      state.textContent = CALL_STATES[card.dataset.view || "waiting"] || CALL_STATES.connecting;
      if (which === "publish" && value === "no_camera") state.textContent = CALL_STATES.no_camera;
    },
    onMuted: (muted) => { sound.hidden = !muted; },
  });
  sound.addEventListener("click", () => call.unmute());
  calls.set(ticket.id, call);
  call.start();
  return panel;
}

function endCall(ticketId) {
  const call = calls.get(ticketId);
  calls.delete(ticketId);
  if (call) call.stop();
}

async function accept(ticket) {
  const answer = await api(`/api/reception/queue/${encodeURIComponent(ticket.id)}/accept`, {});
  if (!answer.ok) { refused(answer); refresh(); return; }
  error.textContent = "";
  refresh();
}

async function refresh() {
  const answer = await api("/api/reception/queue");
  if (!answer.ok) { refused(answer); return; }
  const { waiting, mine: open } = answer.data;
  body.replaceChildren();
  for (const ticket of waiting) {
    const row = document.createElement("tr");
    row.dataset.ticket = ticket.id;
    cell(row, ticket.place);
    cell(row, ticket.county);
    cell(row, ticket.station);
    cell(row, ticket.petitioner);
    cell(row, ticket.contact);
    cell(row, ticket.subject);
    cell(row, minutes(ticket.waited_seconds));
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = text["reception.accept"];
    button.addEventListener("click", () => accept(ticket));
    cell(row, "").append(button);
    body.append(row);
  }
  empty.hidden = waiting.length > 0;
  count.textContent = String(waiting.length);
  const forms = [];
  for (const ticket of open) {
    let card = mine.querySelector(`[data-ticket="${CSS.escape(ticket.id)}"]`);
    if (!card) { // an existing card keeps what is being typed, and its call
      card = outcomeForm(ticket);
      card.dataset.ticket = ticket.id;
    }
    if (ticket.left_call_at) { // the petitioner left: their side of the call is over
      card.dataset.left = "true";
      card.querySelector(".call-left").hidden = false;
      endCall(ticket.id);
    }
    forms.push(card);
  }
  const still = new Set(open.map((t) => t.id));
  for (const id of [...calls.keys()]) if (!still.has(id)) endCall(id);
  mine.replaceChildren(...forms);
}

connectEvents(
  (event) => { if (event.topic.startsWith("reception.")) refresh(); },
  (state) => {
    live.textContent = state === "open" ? text["reception.live"] : text["reception.offline"];
    if (state === "open") refresh();
  },
);
refresh();
setInterval(refresh, REFRESH_MS);
window.addEventListener("pagehide", () => { for (const call of calls.values()) call.closeOnUnload(); });
