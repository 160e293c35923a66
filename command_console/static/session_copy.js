// The evidence copy panel of a sealed session's archive page (_session_copy.html): its
// state and a live progress bar from `session.copy` events (the server tells each only to
// its audience), and once done the download, hash, size and duration. The server decides
// everything; this only shows what /api/sessions/{id}/copy says. Text only via textContent.
import { connectEvents, showEventsState } from "./events.js";
import { api } from "./sessions_api.js";

const config = JSON.parse(document.getElementById("copy-config").textContent);
const text = config.messages;
const root = document.getElementById("copy");
const base = `/api/sessions/${encodeURIComponent(config.session)}/copy`;
const $ = (id) => document.getElementById(id);

function size(n) {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GB`;
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.round(n / 1024)} kB`;
}

function clock(seconds) {
  const s = Math.round(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

const STATES = {
  none: text["copy.state.none"],
  queued: text["copy.state.queued"],
  rendering: text["copy.state.rendering"],
  done: text["copy.state.done"],
  failed: text["copy.state.failed"],
};

function show(copy) {
  const state = copy ? copy.state : "none";
  root.dataset.state = state;
  $("copy-state").textContent = STATES[state] || state;
  const progress = copy ? copy.progress : 0;
  $("copy-progress").value = progress;
  $("copy-percent").textContent = `${Math.round(progress * 100)}%`;
  $("copy-done").hidden = state !== "done";
  $("copy-failed").hidden = state !== "failed";
  if (state === "done") {
    // The derived-copy statement is the signed record's (events carry no record).
    if (copy.record) $("copy-statement").textContent = copy.record.statement[config.lang] || "";
    else if (!$("copy-statement").textContent) refresh();
    $("copy-sha256").textContent = copy.sha256 || "";
    $("copy-size").textContent = copy.bytes ? size(copy.bytes) : "";
    $("copy-duration").textContent = copy.duration ? clock(copy.duration) : "";
  }
  if (state === "failed") $("copy-error").textContent = copy.error || "";
  const again = $("copy-rerender");
  if (again) again.hidden = !(state === "failed" || state === "done");
}

async function refresh() {
  const answer = await api(base);
  if (answer.ok) show(answer.data);
}

show(config.current);

const again = $("copy-rerender");
if (again) {
  again.addEventListener("click", async () => {
    again.disabled = true;
    const answer = await api(base, {});
    again.disabled = false;
    const refused = $("copy-refused");
    if (answer.ok) { refused.hidden = true; show(answer.data); return; }
    refused.hidden = false;
    refused.textContent = text["copy.refused"].replace("{status}", answer.status);
    refused.title = typeof answer.data === "string" ? answer.data.trim() : "";
  });
}

connectEvents((event) => {
  if (event.topic === "hello") { refresh(); return; } // nothing missed while connecting
  if (event.topic !== "session.copy") return;
  const copy = event.data && event.data.copy;
  if (!copy || copy.session !== config.session) return;
  show(copy);
}, showEventsState);
