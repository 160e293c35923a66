// The hearing-session API as the session pages call it: JSON with the console session's
// CSRF header; refusals shown in the page's language (the server's reason, in English,
// stays in the element's title for whoever diagnoses).
import { csrfHeaders, format, loginAgain } from "./session.js";

export async function api(path, body = undefined, method = body === undefined ? "GET" : "POST") {
  const init = { method, headers: { ...csrfHeaders() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) { loginAgain(); throw new Error("logged out"); }
  const raw = await resp.text();
  let data = raw;
  try { data = JSON.parse(raw); } catch { /* a refusal's plain text */ }
  return { ok: resp.ok, status: resp.status, data };
}

export function showRefusal(el, text, answer) {
  const known = text[`sessions.refused.${answer.status}`];
  el.textContent = known || format(text["sessions.failed"], { status: answer.status });
  const reason = typeof answer.data === "string" ? answer.data.trim() : "";
  el.title = reason;
  // A 409 says why (an interrogation's stream not recorded yet): the server's words too.
  if (reason && answer.status === 409) {
    const why = Object.assign(document.createElement("small"), { className: "reason", lang: "en" });
    why.textContent = ` ${reason}`;
    el.append(why);
  }
}

// A media token for this participant's part: {stream, token, url, expires_in}.
export async function mediaToken(sessionId, direction, stream) {
  const answer = await api(`/api/sessions/${encodeURIComponent(sessionId)}/media`, { direction, stream });
  if (!answer.ok) {
    const error = new Error(`media ${answer.status}`);
    error.status = answer.status;
    throw error;
  }
  return answer.data;
}
