// The interrogation record (笔录): the clerk's editor and the read-only view of the
// director and the prosecutor (GET/PUT /api/sessions/{id}/record).
//
// Nothing typed is lost. Every keystroke goes into a local draft (localStorage, keyed by
// the session) at once; the text is saved ~1 s after typing stops, on blur, when the tab
// is hidden, and on pagehide with a keepalive fetch (sendBeacon cannot carry the CSRF
// header). A page that was reloaded or crashed finds the draft: if it was edited from the
// version the server still has, it is saved at once; if the record moved on meanwhile,
// the clerk compares and chooses. A stale save (409 with the current version) is the
// same choice; the local text is never thrown away without asking. Text is textContent.
import { api } from "./sessions_api.js";
import { csrfHeaders, format, localTime } from "./session.js";

const DEBOUNCE = 1000; // ms after the last keystroke
const RETRY = 5000; // ms between tries while offline
const KEEPALIVE_MAX = 60000; // bytes: browsers cap keepalive bodies at 64 KiB in all

const clock = (iso) => (iso ? localTime(iso).slice(11) : "");

export function startRecord(base, text, config) {
  const root = document.getElementById("record");
  if (!root) return null;
  const url = `${base}/record`;
  return root.dataset.mode === "write"
    ? new RecordEditor(url, text, config.id, root)
    : new RecordView(url, text, root);
}

// The director's and the prosecutor's view: the latest version, kept current by the
// session.record events (which name the version, never the text).
class RecordView {
  constructor(url, text, root) {
    Object.assign(this, { url, text, root });
    this.view = document.getElementById("record-view");
    this.status = document.getElementById("record-status");
    this.version = -1;
    this.load();
  }

  async load() {
    const answer = await api(this.url).catch(() => null);
    if (!answer || !answer.ok) return;
    const record = answer.data;
    this.version = record.version;
    this.view.textContent = record.text;
    this.root.dataset.version = String(record.version);
    this.root.dataset.state = "saved";
    this.status.textContent = record.version
      ? format(this.text["hearing.record_saved_by"], {
        version: record.version, user: record.saved_by, time: clock(record.saved_at),
      })
      : this.text["hearing.record_empty"];
  }

  changed(record) {
    if (record.version > this.version) this.load();
  }
}

class RecordEditor {
  constructor(url, text, sessionId, root) {
    Object.assign(this, { url, text, root });
    this.key = `vdispatch.record.${sessionId}`;
    this.box = document.getElementById("record-text");
    this.status = document.getElementById("record-status");
    this.conflictBox = document.getElementById("record-conflict");
    this.base = 0; // the version the box's text was edited from
    this.savedText = ""; // that version's text
    this.saving = false;
    this.again = false; // typed while a save was on its way: save once more after it
    this.timer = null;
    this.conflict = null; // the server's current version, while the clerk chooses
    this.closed = false; // sealed: nothing more is saved
    this.loaded = false; // the server's record seen (until then nothing is saved)
    this.box.addEventListener("input", () => {
      this.keepLocally();
      this.state("dirty", this.text["hearing.record_unsaved"]);
      this.schedule();
    });
    this.box.addEventListener("blur", () => this.saveNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.saveNow();
    });
    window.addEventListener("pagehide", () => this.flush());
    window.addEventListener("online", () => this.saveNow());
    document.getElementById("record-keep-mine").addEventListener("click", () => this.keepMine());
    document.getElementById("record-take-saved").addEventListener("click", () => this.takeSaved());
    this.load();
  }

  // ---------------------------------------------------------------- the local draft

  draft() {
    try {
      const draft = JSON.parse(localStorage.getItem(this.key));
      return draft && typeof draft.text === "string" ? draft : null;
    } catch {
      return null;
    }
  }

  keepLocally() {
    try {
      localStorage.setItem(this.key, JSON.stringify({ text: this.box.value, base: this.base, at: Date.now() }));
    } catch { /* storage full or off: the server copy is all there is */ }
  }

  forget() {
    try { localStorage.removeItem(this.key); } catch { /* nothing kept */ }
  }

  dirty() {
    return this.box.value !== this.savedText;
  }

  // ---------------------------------------------------------------- loading

  async load() {
    let answer = null;
    try {
      answer = await api(this.url);
    } catch { /* offline: below */ }
    const draft = this.draft();
    this.box.readOnly = false;
    if (!answer || !answer.ok) {
      // The server cannot be reached: the draft, if any, is the clerk's latest text;
      // the record is loaded again before anything is saved.
      if (draft) { this.box.value = draft.text; this.base = draft.base; }
      this.offline();
      return;
    }
    this.loaded = true;
    const record = answer.data;
    this.accept(record, record.text);
    if (draft && draft.text !== record.text) {
      this.box.value = draft.text; // the text typed here and not yet saved
      if (draft.base === record.version) this.saveNow();
      else this.conflicted(record);
    } else {
      this.box.value = record.text;
      this.forget();
      this.showSaved(record);
    }
  }

  accept(record, text) {
    this.base = record.version;
    this.savedText = text;
    this.root.dataset.version = String(record.version);
  }

  // ---------------------------------------------------------------- saving

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.saveNow(), DEBOUNCE);
  }

  async saveNow() {
    clearTimeout(this.timer);
    if (this.saving) { this.again = true; return; }
    if (!this.loaded) { this.offline(); return; } // the record is loaded first
    if (this.conflict || this.closed || !this.dirty()) return;
    this.saving = true;
    this.state("saving", this.text["hearing.record_saving"]);
    const sent = this.box.value;
    let answer = null;
    try {
      answer = await api(this.url, { text: sent, base_version: this.base }, "PUT");
    } catch { /* offline: below */ }
    this.saving = false;
    if (!answer) {
      this.offline();
    } else if (answer.ok) {
      this.accept(answer.data, sent);
      if (this.dirty()) this.keepLocally(); // typed meanwhile: the draft's base moves on
      else { this.forget(); this.showSaved(answer.data); }
    } else if (answer.status === 409 && answer.data && answer.data.current) {
      this.conflicted(answer.data.current);
    } else if (answer.status === 409) {
      this.close();
    } else {
      this.state("failed", format(this.text["hearing.record_failed"], { status: answer.status }));
      this.status.title = typeof answer.data === "string" ? answer.data.trim() : "";
    }
    if (this.again) {
      this.again = false;
      if (this.dirty()) this.schedule();
    }
  }

  // The page is going away: the draft is kept, and the text sent if it fits keepalive.
  flush() {
    clearTimeout(this.timer);
    if (!this.loaded || this.conflict || this.closed || !this.dirty()) return;
    this.keepLocally();
    const body = JSON.stringify({ text: this.box.value, base_version: this.base });
    if (new Blob([body]).size > KEEPALIVE_MAX) return; // the next load sends the draft
    try {
      fetch(this.url, {
        method: "PUT", body, keepalive: true,
        headers: { "Content-Type": "application/json", ...csrfHeaders() },
      }).catch(() => {});
    } catch { /* the draft stays */ }
  }

  offline() {
    this.keepLocally();
    this.state("offline", this.text["hearing.record_offline"]);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => (this.loaded ? this.saveNow() : this.load()), RETRY);
  }

  close() {
    this.closed = true;
    this.box.readOnly = true;
    this.state("closed", this.text["hearing.record_closed"]);
  }

  // ---------------------------------------------------------------- conflicts

  conflicted(current) {
    this.conflict = current;
    this.keepLocally();
    document.getElementById("record-conflict-text").textContent =
      format(this.text["hearing.record_conflict"], { version: current.version });
    document.getElementById("record-theirs").textContent = current.text;
    this.conflictBox.hidden = false;
    this.state("conflict", this.text["hearing.record_conflict_status"]);
  }

  resolved() {
    const current = this.conflict;
    this.conflict = null;
    this.conflictBox.hidden = true;
    this.accept(current, current.text);
    return current;
  }

  keepMine() {
    if (!this.conflict) return;
    this.resolved();
    this.keepLocally();
    this.saveNow();
  }

  takeSaved() {
    if (!this.conflict) return;
    const current = this.resolved();
    this.box.value = current.text;
    this.forget();
    this.showSaved(current);
  }

  // ---------------------------------------------------------------- events and status

  // Another save of this record (another of the clerk's pages): take it if nothing is
  // typed here; otherwise the next save answers 409 and the clerk chooses.
  async changed(record) {
    if (record.version <= this.base || this.dirty() || this.saving || this.conflict) return;
    const answer = await api(this.url).catch(() => null);
    if (!answer || !answer.ok || this.dirty() || this.saving) return;
    this.accept(answer.data, answer.data.text);
    this.box.value = answer.data.text;
    this.showSaved(answer.data);
  }

  showSaved(record) {
    this.state("saved", record.version
      ? format(this.text["hearing.record_saved"], { version: record.version, time: clock(record.saved_at) })
      : this.text["hearing.record_empty"]);
  }

  state(name, message) {
    this.root.dataset.state = name;
    this.status.textContent = message;
    this.status.title = "";
  }
}
