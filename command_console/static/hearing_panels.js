// A session's text panels: the director's directions (with read receipts) and quick
// phrases, the prosecutor terminal's inbox (receipts sent once a direction is shown on a
// visible page), observers' comments, the evaluation. Text is only ever textContent.
import { api, showRefusal } from "./sessions_api.js";
import { format, localTime } from "./session.js";

const clockOf = (iso) => (iso ? localTime(iso).slice(11) : "");

export function mediaClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const p = (n) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
}

function el(tag, className, content = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = content;
  return node;
}

// Directions as a list, newest first: the director's (with receipts) or the inbox.
export class Directions {
  constructor(base, text, { inbox = false } = {}) {
    this.base = base;
    this.text = text;
    this.inbox = inbox;
    this.list = document.getElementById("direction-list");
    this.empty = document.getElementById("no-directions");
    this.items = new Map();
    if (inbox) {
      document.addEventListener("visibilitychange", () => this.acknowledge());
    }
  }

  show(direction, fresh = false) {
    let item = this.items.get(direction.id);
    if (!item) {
      item = el("li", "direction");
      item.dataset.direction = String(direction.id);
      const head = el("div", "meta");
      head.append(el("time", "sent", clockOf(direction.sent_at)));
      if (direction.urgent) head.append(el("span", "urgent-flag", this.text["hearing.urgent"]));
      head.append(el("span", "receipt"));
      item.append(head, el("p", "text", direction.text));
      item.classList.toggle("urgent", direction.urgent);
      this.items.set(direction.id, item);
      this.list.prepend(item);
      this.empty.hidden = true;
      if (fresh && this.inbox) cue(item, direction.urgent, this.text);
    }
    const read = Boolean(direction.read_at);
    item.dataset.read = String(read);
    item.querySelector(".receipt").textContent = read
      ? format(this.text["hearing.read_at"], { time: clockOf(direction.read_at) })
      : this.text["hearing.unread"];
    if (this.inbox) this.acknowledge();
  }

  // The prosecutor terminal: a direction on screen, on a page someone can see, is read.
  async acknowledge() {
    if (document.visibilityState !== "visible") return;
    for (const [id, item] of this.items) {
      if (item.dataset.read !== "false" || item.dataset.sending) continue;
      item.dataset.sending = "true";
      const answer = await api(`${this.base}/directions/${id}/read`, {});
      delete item.dataset.sending;
      if (answer.ok) this.show(answer.data);
    }
  }

  // The director's form, urgent flag and quick phrases.
  bindForm(errorEl) {
    const form = document.getElementById("direction-form");
    if (!form) return;
    const textarea = document.getElementById("direction-text");
    const urgent = document.getElementById("direction-urgent");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errorEl.textContent = "";
      const answer = await api(`${this.base}/directions`, {
        text: textarea.value, urgent: urgent.checked,
      });
      if (answer.status !== 201) { showRefusal(errorEl, this.text, answer); return; }
      this.show(answer.data);
      textarea.value = "";
      urgent.checked = false;
      textarea.focus();
    });
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
    });
    new Phrases(this.text, errorEl, (phrase) => { textarea.value = phrase; textarea.focus(); });
  }
}

// A new direction at the terminal: a flash, and for an urgent one a tone and the title.
function cue(item, urgent, text) {
  item.classList.add("fresh");
  setTimeout(() => item.classList.remove("fresh"), 4000);
  if (!urgent) return;
  const title = document.title;
  document.title = `【${text["hearing.urgent"]}】${title}`;
  setTimeout(() => { document.title = title; }, 5000);
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.3);
    tone.onended = () => audio.close();
  } catch { /* no sound: the flash says it */ }
}

// The director's own quick phrases: click one to put it in the direction box.
class Phrases {
  constructor(text, errorEl, use) {
    Object.assign(this, { text, errorEl, use });
    this.box = document.getElementById("phrases");
    this.editor = document.getElementById("phrases-text");
    this.state = document.getElementById("phrases-state");
    document.getElementById("phrases-save").addEventListener("click", () => this.save());
    this.load();
  }

  async load() {
    const answer = await api("/api/me/phrases");
    if (answer.ok) this.render(answer.data.phrases);
  }

  render(phrases) {
    this.box.replaceChildren(...phrases.map((phrase) => {
      const button = el("button", "phrase", phrase);
      button.type = "button";
      button.addEventListener("click", () => this.use(phrase));
      return button;
    }));
    this.editor.value = phrases.join("\n");
  }

  async save() {
    const phrases = this.editor.value.split("\n").map((s) => s.trim()).filter(Boolean);
    const answer = await api("/api/me/phrases", { phrases: [...new Set(phrases)] }, "PUT");
    if (!answer.ok) { showRefusal(this.errorEl, this.text, answer); return; }
    this.render(answer.data.phrases);
    this.state.textContent = this.text["hearing.phrases_saved"];
  }
}

// Comments anchored to the session's media time, oldest first.
export class Comments {
  constructor(base, text, startedAt) {
    Object.assign(this, { base, text, startedAt });
    this.list = document.getElementById("comment-list");
    this.empty = document.getElementById("no-comments");
    this.seen = new Set();
  }

  show(comment) {
    if (!this.list || this.seen.has(comment.id)) return;
    this.seen.add(comment.id);
    const item = el("li", "comment");
    item.dataset.comment = String(comment.id);
    item.dataset.mediaTime = String(comment.media_time);
    const meta = el("div", "meta");
    meta.append(el("time", "media-time", mediaClock(comment.media_time)), el("b", "", comment.author));
    item.append(meta, el("p", "text", comment.text));
    this.list.append(item);
    this.empty.hidden = true;
  }

  bindForm(errorEl) {
    const form = document.getElementById("comment-form");
    if (!form) return;
    const textarea = document.getElementById("comment-text");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errorEl.textContent = "";
      const mediaTime = Math.max(0, (Date.now() - Date.parse(this.startedAt)) / 1000);
      const answer = await api(`${this.base}/comments`, {
        text: textarea.value, media_time: Math.round(mediaTime * 10) / 10,
      });
      if (answer.status !== 201) { showRefusal(errorEl, this.text, answer); return; }
      this.show(answer.data);
      textarea.value = "";
    });
  }
}

// The director's evaluation summary, once the session has ended.
export function bindEvaluation(base, text, errorEl) {
  const button = document.getElementById("evaluation-save");
  if (!button) return;
  button.addEventListener("click", async () => {
    const state = document.getElementById("evaluation-state");
    state.textContent = "";
    const answer = await api(`${base}/evaluation`, {
      text: document.getElementById("evaluation-text").value,
    });
    if (answer.ok) state.textContent = text["hearing.evaluation_saved"];
    else showRefusal(errorEl, text, answer);
  });
}
