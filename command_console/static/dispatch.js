// Video dispatch (集中调度): each screen with what it shows (grid and a source per tile,
// chosen from the live streams), applied with one click; a wall PC's link per screen;
// saved layouts saved and recalled with one click. Everything is read from and written
// to /api/dispatch/… (the server checks and audits); dispatch.* and stream.* events on
// /ws/events bring other commanders' changes and the live streams in.
import { connectEvents, showEventsState } from "./events.js";
import { csrfHeaders, format, localTime, loginAgain, messages } from "./session.js";

const root = document.getElementById("dispatch");
const GRIDS = root.dataset.grids.split(",").map(Number);
const text = messages();
const status = document.getElementById("dispatch-status");
let screens = [];
let layouts = [];
let streams = []; // live: [{id, station, county}]
let stations = [];
const drafts = new Map(); // screen name -> {grid, sources} not applied yet

function say(message, error = false) {
  status.textContent = message;
  status.dataset.error = error ? "true" : "false";
}

async function api(method, path, body) {
  const init = { method, headers: { ...csrfHeaders() } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) { loginAgain(); throw new Error("401"); }
  const answer = resp.headers.get("Content-Type")?.startsWith("application/json")
    ? await resp.json() : (await resp.text()).trim();
  if (!resp.ok) {
    say(format(text["dispatch.failed"], { reason: answer }), true);
    const error = new Error(String(answer));
    error.status = resp.status;
    throw error;
  }
  return answer;
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function sourceOptions(current) {
  const options = [el("option", { value: "", textContent: text["dispatch.empty_tile"] })];
  const live = new Set(streams.map((s) => s.id));
  for (const s of streams) {
    const name = s.county ? `${s.county} · ${s.station}` : s.station || s.id;
    options.push(el("option", { value: s.id, textContent: `${name} (${s.id})` }));
  }
  if (current && !live.has(current)) {
    options.push(el("option", { value: current, textContent: `${current} ${text["dispatch.not_live"]}` }));
  }
  for (const o of options) o.selected = o.value === (current || "");
  return options;
}

function renderScreen(screen) {
  const draft = drafts.get(screen.name) || { grid: screen.grid, sources: [...screen.sources] };
  const card = el("section", { className: "card screen-card" });
  card.dataset.screen = screen.name;
  card.dataset.kind = screen.kind;
  card.dataset.grid = String(screen.grid);
  card.dataset.sources = screen.sources.join(" ");
  const station = stations.find((s) => s.id === screen.station);
  const meta = [text[`dispatch.kind.${screen.kind}`]];
  if (station) meta.push(`${station.county} · ${station.name}`);
  if (screen.link) meta.push(text["dispatch.link_on"]);
  meta.push(format(text["dispatch.updated"], {
    time: localTime(screen.updated_at).slice(11), who: screen.updated_by.replace(/^user:/, ""),
  }));
  const grids = el("span", { className: "grids" });
  for (const n of GRIDS) {
    const b = el("button", { type: "button", textContent: String(n) });
    b.dataset.grid = String(n);
    b.setAttribute("aria-pressed", n === draft.grid ? "true" : "false");
    b.addEventListener("click", () => {
      drafts.set(screen.name, { grid: n, sources: draft.sources.slice(0, n) });
      render();
    });
    grids.append(b);
  }
  card.append(el("header", {},
    el("b", { textContent: screen.title }), el("code", { textContent: screen.name }),
    el("span", { className: "meta", textContent: meta.join(" · ") })));
  card.append(el("div", { className: "actions" },
    el("span", { className: "dim", textContent: text["dispatch.grid"] }), grids));
  const slots = el("div", { className: "slots" });
  slots.dataset.grid = String(draft.grid);
  for (let i = 0; i < draft.grid; i++) {
    const select = el("select", { title: format(text["dispatch.tile"], { n: i + 1 }) });
    select.dataset.slot = String(i);
    select.append(...sourceOptions(draft.sources[i]));
    select.addEventListener("change", () => {
      const sources = [...draft.sources];
      while (sources.length <= i) sources.push("");
      sources[i] = select.value;
      drafts.set(screen.name, { grid: draft.grid, sources });
    });
    slots.append(select);
  }
  card.append(slots);
  const apply = el("button", { type: "button", className: "apply", textContent: text["dispatch.apply"] });
  apply.addEventListener("click", async () => {
    const d = drafts.get(screen.name) || draft;
    const sources = d.sources.filter((s) => s);
    try {
      await api("PUT", `/api/dispatch/screens/${encodeURIComponent(screen.name)}/layout`,
        { grid: d.grid, sources: [...new Set(sources)] });
      drafts.delete(screen.name);
      say(text["dispatch.applied"]);
      await load();
    } catch { /* said */ }
  });
  const link = el("button", { type: "button", className: "link", textContent: text["dispatch.link"] });
  const url = el("input", { className: "link-url", readOnly: true, hidden: true, title: text["dispatch.link_hint"] });
  link.addEventListener("click", async () => {
    try {
      const made = await api("POST", `/api/dispatch/screens/${encodeURIComponent(screen.name)}/link`, {});
      url.value = new URL(made.url, location.href).href;
      url.hidden = false;
      url.select();
      say(text["dispatch.link_hint"]);
    } catch { /* said */ }
  });
  const actions = el("div", { className: "actions" }, apply, link);
  if (screen.link) {
    const unlink = el("button", { type: "button", className: "unlink", textContent: text["dispatch.unlink"] });
    unlink.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/dispatch/screens/${encodeURIComponent(screen.name)}/link`);
        await load();
      } catch { /* said */ }
    });
    actions.append(unlink);
  }
  actions.append(el("a", { href: `/screen/${encodeURIComponent(screen.name)}`, target: "_blank", textContent: text["dispatch.open"] }));
  const remove = el("button", { type: "button", className: "delete", textContent: text["dispatch.delete"] });
  remove.addEventListener("click", async () => {
    if (!confirm(text["dispatch.confirm_delete"])) return;
    try {
      await api("DELETE", `/api/dispatch/screens/${encodeURIComponent(screen.name)}`);
      await load();
    } catch { /* said */ }
  });
  actions.append(remove);
  card.append(actions, url);
  return card;
}

function renderLayout(layout) {
  const li = el("li", {});
  li.dataset.layout = layout.name;
  const recall = el("button", { type: "button", className: "recall", textContent: text["dispatch.recall"] });
  recall.addEventListener("click", async () => {
    try {
      const done = await api("POST", `/api/dispatch/layouts/${encodeURIComponent(layout.name)}/recall`);
      for (const s of done.changed) drafts.delete(s.name);
      say(format(text["dispatch.recalled"], { n: done.changed.length }));
      await load();
    } catch { /* said */ }
  });
  const remove = el("button", { type: "button", className: "delete", textContent: text["dispatch.delete"] });
  remove.addEventListener("click", async () => {
    if (!confirm(text["dispatch.confirm_delete"])) return;
    try {
      await api("DELETE", `/api/dispatch/layouts/${encodeURIComponent(layout.name)}`);
      await load();
    } catch { /* said */ }
  });
  li.append(el("b", { textContent: layout.name }),
    el("span", { className: "dim", textContent: Object.keys(layout.screens).join(", ") }), recall, remove);
  return li;
}

function render() {
  document.getElementById("screens").replaceChildren(...screens.map(renderScreen));
  document.getElementById("no-screens").hidden = screens.length > 0;
  document.getElementById("layouts").replaceChildren(...layouts.map(renderLayout));
  document.getElementById("no-layouts").hidden = layouts.length > 0;
  const choice = document.getElementById("station-choice");
  const chosen = choice.value;
  choice.replaceChildren(el("option", { value: "", textContent: "—" }),
    ...stations.map((s) => el("option", { value: s.id, textContent: `${s.county} · ${s.name}` })));
  choice.value = chosen;
}

async function load() {
  try {
    const [s, l, live, st] = await Promise.all([
      api("GET", "/api/dispatch/screens"),
      api("GET", "/api/dispatch/layouts"),
      api("GET", "/api/streams"),
      api("GET", "/api/stations"),
    ]);
    screens = s.screens;
    layouts = l.layouts;
    streams = live.streams;
    stations = st.stations;
    root.dataset.loaded = "true";
    render();
  } catch { /* said; the next event or interval tries again */ }
}

let loading = null;
function loadSoon() {
  if (loading) return;
  loading = setTimeout(() => { loading = null; load(); }, 100);
}

document.getElementById("add-screen").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const kind = form.get("kind");
  try {
    await api("POST", "/api/dispatch/screens", {
      name: form.get("name"), title: form.get("title"), kind,
      station: kind === "station" ? form.get("station") || null : null,
    });
    e.target.reset();
    await load();
  } catch { /* said */ }
});

document.getElementById("save-layout").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    await api("POST", "/api/dispatch/layouts", { name: form.get("name") });
    e.target.reset();
    say(text["dispatch.saved"]);
    await load();
  } catch { /* said */ }
});

connectEvents((event) => {
  if (event.topic === "hello" || event.topic.startsWith("dispatch.") ||
      event.topic === "stream.up" || event.topic === "stream.down") loadSoon();
}, showEventsState);
load();
setInterval(load, 15000);
