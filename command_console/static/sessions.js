// The sessions list: the "new session" form (JSON to /api/sessions, then the new
// session's page) and the director's start buttons. The server decides everything.
import { api, showRefusal } from "./sessions_api.js";
import { localTime, messages } from "./session.js";

const text = messages();
const listError = document.getElementById("sessions-error");

for (const el of document.querySelectorAll("time[datetime]")) {
  if (el.getAttribute("datetime")) el.textContent = localTime(el.getAttribute("datetime"));
}

for (const button of document.querySelectorAll("button[data-start]")) {
  button.addEventListener("click", async () => {
    const id = button.dataset.start;
    button.disabled = true;
    const answer = await api(`/api/sessions/${encodeURIComponent(id)}/start`, {});
    if (answer.ok) location.assign(`/sessions/${encodeURIComponent(id)}`);
    else { button.disabled = false; showRefusal(listError, text, answer); }
  });
}

const form = document.getElementById("new-session");
const rowTemplate = document.getElementById("participant-row");
if (form && rowTemplate) {
  const fieldset = document.getElementById("participants");
  const addButton = document.getElementById("add-participant");
  const addRow = () => {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    row.querySelector("[data-remove]").addEventListener("click", () => row.remove());
    fieldset.insertBefore(row, addButton);
    return row;
  };
  addButton.addEventListener("click", () => addRow().querySelector("input").focus());
  addRow();

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("new-session-error");
    error.textContent = "";
    const value = (name) => form.elements.namedItem(name).value.trim();
    const participants = [...fieldset.querySelectorAll(".participant")]
      .map((row) => ({
        user: row.querySelector('[name="user"]').value.trim(),
        part: row.querySelector('[name="part"]').value,
      }))
      .filter((p) => p.user);
    const body = {
      kind: value("kind"),
      station: value("station"),
      title: value("title"),
      case_no: value("case_no"),
      participants,
    };
    const when = value("scheduled_for");
    if (when) body.scheduled_for = new Date(when).toISOString();
    const submit = document.getElementById("create-session");
    submit.disabled = true;
    const answer = await api("/api/sessions", body);
    submit.disabled = false;
    if (answer.status === 201) location.assign(`/sessions/${encodeURIComponent(answer.data.id)}`);
    else showRefusal(error, text, answer);
  });
}
