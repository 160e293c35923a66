// The county kiosk: a petitioner's short form, then their place in the city's queue and
// the estimated wait (polled with the kiosk link's token); the ticket is kept in the
// browser so a reload keeps the place. No console session: the token is the credential.
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
const KEY = `kiosk-ticket:${station}`;
const POLL_MS = 3000;
let timer = null;

async function call(path, method = "GET", body = undefined) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const raw = await resp.text();
  let data = raw;
  try { data = JSON.parse(raw); } catch { /* a refusal's plain text */ }
  return { ok: resp.ok, status: resp.status, data };
}

function refusal(answer) {
  const byStatus = { 400: "kiosk.missing", 413: "kiosk.too_long", 429: "kiosk.busy" };
  const key = byStatus[answer.status];
  error.textContent = key ? text[key] : format(text["kiosk.failed"], { status: answer.status });
  error.title = typeof answer.data === "string" ? answer.data.trim() : "";
}

function show(ticket) {
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
  } else if (ticket.state === "accepted") {
    place.textContent = text["kiosk.accepted"];
  } else if (ticket.state === "closed") {
    place.textContent = text["kiosk.closed"];
  } else {
    place.textContent = text["kiosk.abandoned"];
  }
  if (ticket.state !== "waiting" && ticket.state !== "accepted") stop();
}

function reset() {
  stop();
  localStorage.removeItem(KEY);
  form.reset();
  form.hidden = false;
  wait.hidden = true;
  root.dataset.state = "form";
}

function stop() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}

async function poll() {
  const id = localStorage.getItem(KEY);
  if (!id) return;
  try {
    const answer = await call(`/api/reception/queue?ticket=${encodeURIComponent(id)}`);
    if (answer.ok) show(answer.data);
    else if (answer.status === 404 || answer.status === 401 || answer.status === 403) reset();
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
  const answer = await call("/api/reception/queue", "POST", data);
  if (!answer.ok) { refusal(answer); return; }
  localStorage.setItem(KEY, answer.data.id);
  form.reset(); // the petitioner's details do not stay on the screen
  show(answer.data);
  follow();
});

leave.addEventListener("click", async () => {
  const id = localStorage.getItem(KEY);
  if (!id) return;
  const answer = await call(`/api/reception/queue/${encodeURIComponent(id)}/leave`, "POST");
  if (answer.ok) show(answer.data); else refusal(answer);
});

again.addEventListener("click", reset);

if (localStorage.getItem(KEY)) follow();
