// Live wall: every live stream over WHEP in a grid of 1/4/9/16 tiles with paging, named
// by its station, with the browser's own stats; the station directory beside it.
// Only the tiles of the page shown are subscribed. The server decides what is live
// (/api/streams, stream.up/down on /ws/events); a tile whose stream ends stays, says so,
// and plays again when the stream returns. Keys: 1 4 9 0 (16) for layouts, ←/→ or
// PageUp/PageDown for pages; the layout is remembered in localStorage.
import { Directory } from "./directory.js";
import { connectEvents, showEventsState } from "./events.js";
import { csrfHeaders, format, loginAgain, messages } from "./session.js";
import { Tile } from "./tile.js";

const LAYOUTS = [1, 4, 9, 16];
const KEYS = { 1: 1, 4: 4, 9: 9, 0: 16 };
const STORE = "vdispatch.wall.layout";
const KEEP_OFFLINE = 10 * 60 * 1000; // a tile whose stream ended stays this long

const wall = document.getElementById("wall");
const text = messages();
const auth = csrfHeaders();
const tiles = new Map(); // stream id -> Tile
const directory = new Directory(document.getElementById("directory"), text);
let layout = LAYOUTS.includes(Number(localStorage.getItem(STORE)))
  ? Number(localStorage.getItem(STORE)) : 9;
let page = 0;
let refreshing = null;

// Tiles in a stable order: county, station, stream id.
function ordered() {
  const key = (t) => [t.info.county || "\uffff", t.info.station || t.id, t.id];
  return [...tiles.values()].sort((a, b) => {
    const ka = key(a), kb = key(b);
    for (let i = 0; i < ka.length; i++) {
      const c = ka[i].localeCompare(kb[i], "zh-CN");
      if (c) return c;
    }
    return 0;
  });
}

function render() {
  const all = ordered();
  const pages = Math.max(1, Math.ceil(all.length / layout));
  page = Math.min(Math.max(page, 0), pages - 1);
  const shown = all.slice(page * layout, (page + 1) * layout);
  const visible = new Set(shown.map((t) => t.id));
  for (const tile of all) {
    if (!visible.has(tile.id) && tile.el.isConnected) {
      tile.stream.stop();
      tile.el.remove();
    }
  }
  const current = [...wall.children];
  if (current.length !== shown.length || current.some((el, i) => el !== shown[i].el)) {
    wall.replaceChildren(...shown.map((t) => t.el));
    for (const t of shown) t.el.querySelector("video").play().catch(() => {});
  }
  for (const tile of shown) {
    if (tile.offlineSince === null) tile.stream.up();
  }
  wall.dataset.layout = String(layout);
  wall.dataset.page = String(page + 1);
  wall.dataset.pages = String(pages);
  document.getElementById("wall-empty").hidden = all.length > 0;
  document.getElementById("page").textContent = format(text["wall.page"], { page: page + 1, pages });
  document.getElementById("prev").disabled = page === 0;
  document.getElementById("next").disabled = page >= pages - 1;
  for (const b of document.querySelectorAll("button[data-layout]")) {
    b.setAttribute("aria-pressed", Number(b.dataset.layout) === layout ? "true" : "false");
  }
}

function setLayout(n) {
  if (!LAYOUTS.includes(n)) return;
  // Keep the first tile shown in view.
  const first = page * layout;
  layout = n;
  page = Math.floor(first / layout);
  localStorage.setItem(STORE, String(n));
  render();
}

function turn(delta) {
  page += delta;
  render();
}

// What is live, from the server: new tiles, names and recording state, ended streams.
async function refresh() {
  let streams = null;
  try {
    const resp = await fetch("/api/streams");
    if (resp.status === 401) { loginAgain(); return; }
    if (resp.ok) streams = (await resp.json()).streams;
  } catch { /* the node is away: keep the tiles, try again */ }
  if (streams === null) return;
  document.getElementById("summary").textContent =
    format(text["wall.live_count"], { n: streams.length });
  const live = new Map(streams.map((s) => [s.id, s]));
  for (const s of streams) {
    let tile = tiles.get(s.id);
    if (!tile) {
      tile = new Tile(s, auth, text);
      tiles.set(s.id, tile);
    }
    tile.update(s);
    tile.offlineSince = null;
  }
  const now = Date.now();
  for (const [id, tile] of tiles) {
    if (live.has(id)) continue;
    if (tile.offlineSince === null) {
      tile.wentOffline(now);
    } else if (now - tile.offlineSince > KEEP_OFFLINE) {
      tile.stream.stop();
      tile.el.remove();
      tiles.delete(id);
    }
  }
  directory.setLive(live.keys());
  render();
}

// Events come in bursts: one /api/streams request for each burst.
function refreshSoon() {
  if (refreshing) return;
  refreshing = setTimeout(() => { refreshing = null; refresh(); }, 100);
}

function onEvent(event) {
  const data = event.data || {};
  const tile = data.stream ? tiles.get(data.stream) : undefined;
  switch (event.topic) {
    case "hello": // (re)connected: whatever happened meanwhile
      refreshSoon();
      directory.reload();
      break;
    case "stream.down":
      if (tile) tile.wentOffline(Date.now());
      refreshSoon();
      break;
    case "stream.up":
      if (tile) { tile.offlineSince = null; if (tile.el.isConnected) tile.stream.retryNow(); }
      refreshSoon();
      break;
    case "station.presence":
      directory.reload();
      break;
    case "recording.segment":
      if (tile && tile.offlineSince === null) tile.setRecording(true);
      break;
    default:
      if (event.topic.startsWith("recording.")) refreshSoon();
  }
}

async function sampleStats() {
  await Promise.all([...tiles.values()].filter((t) => t.el.isConnected).map((t) => t.sample()));
}

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
  if (e.key in KEYS) { setLayout(KEYS[e.key]); e.preventDefault(); }
  else if (e.key === "ArrowLeft" || e.key === "PageUp") { turn(-1); e.preventDefault(); }
  else if (e.key === "ArrowRight" || e.key === "PageDown") { turn(1); e.preventDefault(); }
});
for (const b of document.querySelectorAll("button[data-layout]")) {
  b.addEventListener("click", () => setLayout(Number(b.dataset.layout)));
}
document.getElementById("prev").addEventListener("click", () => turn(-1));
document.getElementById("next").addEventListener("click", () => turn(1));
window.addEventListener("pagehide", () => { for (const t of tiles.values()) t.stream.stop(); });

render();
connectEvents(onEvent, showEventsState);
refresh();
directory.load();
setInterval(refresh, 5000);
setInterval(() => directory.load(), 30000);
setInterval(sampleStats, 1000);
