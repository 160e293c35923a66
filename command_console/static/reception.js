// The receptionists' page: the city's queue across counties (live: reception.* events
// say something changed, the page reads the queue again; personal data never travels
// in events), accept the next petitioner (409: another receptionist took them), and the
// outcome form of one's open receptions. Text goes in with textContent: never as HTML.
import { connectEvents } from "./events.js";
import { api } from "./sessions_api.js";
import { format, messages } from "./session.js";

const text = messages();
const body = document.querySelector("#reception-queue tbody");
const empty = document.getElementById("reception-empty");
const count = document.getElementById("reception-count");
const mine = document.getElementById("reception-mine");
const error = document.getElementById("reception-error");
const live = document.getElementById("reception-live");
const REFRESH_MS = 15000; // waiting times tick on even without events

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
    if (answer.ok) refresh(); else refused(answer);
  });
  card.append(title, link, form);
  return card;
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
    const existing = mine.querySelector(`[data-ticket="${CSS.escape(ticket.id)}"]`);
    if (existing) { forms.push(existing); continue; } // keep what is being typed
    const card = outcomeForm(ticket);
    card.dataset.ticket = ticket.id;
    forms.push(card);
  }
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
