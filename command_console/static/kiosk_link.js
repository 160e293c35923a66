// A reception room's kiosk link on its admin page: when the current one was made, by
// whom, until when; make a new one (the old one stops working at once; the new URL is
// shown this once, the server keeps no token) or revoke it. The API decides and audits.
import { api } from "./sessions_api.js";
import { format, localTime, messages } from "./session.js";

const text = messages();
const root = document.getElementById("kiosk-link");
const base = `/api/reception/kiosks/${encodeURIComponent(root.dataset.station)}/link`;
const state = document.getElementById("kiosk-link-state");
const fresh = document.getElementById("kiosk-link-new");
const url = document.getElementById("kiosk-link-url");
const make = document.getElementById("kiosk-link-make");
const revoke = document.getElementById("kiosk-link-revoke");
const error = document.getElementById("kiosk-link-error");

function show(link) {
  root.dataset.link = link ? "current" : "none";
  revoke.hidden = !link;
  if (!link) { state.textContent = text["kiosk_link.none"]; return; }
  state.textContent = format(text["kiosk_link.made"], {
    by: String(link.created_by).replace(/^user:/, ""),
    at: localTime(link.created_at),
    expires: localTime(link.expires_at),
  }) + (link.expired ? ` ${text["kiosk_link.expired"]}` : "");
}

function failed(answer) {
  error.textContent = format(text["kiosk_link.failed"], { status: answer.status });
  error.title = typeof answer.data === "string" ? answer.data.trim() : "";
}

async function load() {
  const answer = await api(base);
  if (answer.ok) show(answer.data);
  else if (answer.status === 404) show(null);
  else failed(answer);
}

make.addEventListener("click", async () => {
  error.textContent = "";
  const answer = await api(base, {});
  if (!answer.ok) { failed(answer); return; }
  url.value = new URL(answer.data.url, location.origin).href;
  fresh.hidden = false;
  show(answer.data);
});

revoke.addEventListener("click", async () => {
  error.textContent = "";
  const answer = await api(base, undefined, "DELETE");
  if (!answer.ok) { failed(answer); return; }
  fresh.hidden = true;
  url.value = "";
  show(null);
  state.textContent = text["kiosk_link.revoked"];
});

load();
