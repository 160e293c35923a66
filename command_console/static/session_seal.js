// The seal panel of a session's archive page: Verify asks the node to check the whole
// session (every recording, the seal) and shows the answer per recording and for the
// seal, naming the first failing recording and segment. The download is a plain link.
import { csrfHeaders, format } from "./session.js";

const panel = document.getElementById("seal-panel");
const button = document.getElementById("seal-verify");
const out = document.getElementById("seal-result");
const text = JSON.parse(document.getElementById("seal-messages").textContent);

function headline(result) {
  if (result.ok) {
    const key = result.sealed ? "seal.ok" : "seal.ok_unsealed";
    return format(text[key], { recordings: result.recordings.length, segments: result.segments });
  }
  if (result.sealed && result.seal_ok === false) return text["seal.seal_failed"];
  const f = result.failing;
  if (f && f.segment) return format(text["seal.failed_at"], f);
  if (f) return format(text["seal.failed_recording"], f);
  return text["seal.failed"];
}

function showRows(result) {
  for (const r of result.recordings) {
    const row = panel.querySelector(`tr[data-recording="${CSS.escape(r.id)}"]`);
    if (!row) continue;
    row.dataset.verified = r.ok ? "ok" : "failed";
    const cell = row.querySelector(".result");
    cell.textContent = r.ok ? `✓ ${text["seal.row_ok"]}` : `✗ ${text["seal.row_failed"]}`;
    cell.title = r.problem || "";
    if (!r.ok && r.segment) {
      const where = Object.assign(document.createElement("small"), { className: "why" });
      where.textContent = ` ${r.segment}`;
      cell.append(where);
    }
  }
}

async function verify() {
  button.disabled = true;
  out.dataset.state = "running";
  out.textContent = text["seal.verifying"];
  try {
    const answer = await fetch(`/archive/sessions/${encodeURIComponent(panel.dataset.session)}/verify`,
      { method: "POST", headers: csrfHeaders() });
    if (!answer.ok) throw new Error((await answer.text()).trim() || String(answer.status));
    const result = await answer.json();
    out.dataset.state = result.ok ? "ok" : "failed";
    out.textContent = headline(result);
    if (!result.ok && result.problem) {
      const detail = document.createElement("small");
      detail.className = "why";
      detail.lang = "en";
      detail.textContent = ` ${result.problem}`;
      out.append(detail);
    }
    if (result.failing) {
      out.dataset.recording = result.failing.recording;
      out.dataset.segment = result.failing.segment || "";
    }
    showRows(result);
  } catch (error) {
    out.dataset.state = "error";
    out.textContent = `${text["seal.error"]}: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

button.addEventListener("click", verify);
