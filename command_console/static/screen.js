// A screen (the command hall's wall PC, /screen/{name}) or a county station's display
// (/station/{id}/display): full-screen, the tiles the server says, each played over
// WHEP. The server pushes the whole state on the page's socket (data-feed) whenever a
// commander changes the screen, a session starts or ends, or a stream comes or goes;
// this script only plays it. With a link's token (data-token) every request carries it;
// otherwise the console session's cookie and CSRF header do.
import { LiveStream, fmtResolution } from "./live.js";
import { csrfHeaders, format, localTime, loginAgain, messages } from "./session.js";

const SESSION_ENDED = 4401;
const GONE = 4404;
const root = document.getElementById("screen");
const grid = document.getElementById("grid");
const notice = document.getElementById("screen-notice");
const alarm = document.getElementById("screen-alarm");
const text = messages();
const { feed, token } = root.dataset;
const auth = token || csrfHeaders();
const tiles = new Map(); // stream id -> { el, stream }
window.screenTiles = tiles; // for diagnostics (getStats) from devtools or tests

const STATE_KEYS = {
  connecting: "wall.connecting",
  live: "wall.live",
  stalled: "wall.stalled",
  offline: "wall.offline",
  reconnecting: "wall.reconnecting",
};

function makeTile(id) {
  const el = document.createElement("section");
  el.className = "tile";
  el.dataset.stream = id;
  el.innerHTML = `<div class="label"><b></b><span class="state"></span></div>` +
    `<video autoplay muted playsinline></video><div class="stats"></div>`;
  const video = el.querySelector("video");
  video.muted = true;
  const stream = new LiveStream(id, video, auth, (state) => {
    el.dataset.state = state;
    el.querySelector(".state").textContent = text[STATE_KEYS[state]] || "";
    if (state === "offline" || state === "reconnecting") el.dataset.framesDecoded = "0";
  });
  el.dataset.state = "offline";
  return { el, stream };
}

function blank() {
  const el = document.createElement("section");
  el.className = "tile blank";
  return el;
}

// An interruption of the station's live session (the server's open ones): a banner
// across the screen until the stream is back.
function showAlarms(alarms) {
  const open = alarms || [];
  alarm.hidden = open.length === 0;
  root.dataset.alarm = open.length ? "on" : "off";
  const says = { "stream-lost": text["screen.alarm_lost"], "recording-failed": text["screen.alarm_failed"] };
  alarm.querySelector(".detail").textContent = open
    .map((a) => format(says[a.kind] || "{stream} · {since}", { stream: a.stream, since: localTime(a.started_at) }))
    .join("  |  ");
}

// The server's state: {kind, name, title, grid, tiles: [{stream, source, label, live}],
// alarms: [{session, stream, kind, reason, started_at}]}.
function show(state) {
  showAlarms(state.alarms);
  document.getElementById("screen-title").textContent = state.title || state.name;
  document.title = `${state.title || state.name} — vdispatch`;
  const wanted = new Set(state.tiles.map((t) => t.stream));
  for (const [id, tile] of tiles) {
    if (!wanted.has(id)) {
      tile.stream.stop();
      tile.el.remove();
      tiles.delete(id);
    }
  }
  const cells = [];
  for (const info of state.tiles) {
    let tile = tiles.get(info.stream);
    if (!tile) {
      tile = makeTile(info.stream);
      tiles.set(info.stream, tile);
    }
    tile.el.dataset.source = info.source;
    tile.el.querySelector("b").textContent =
      info.source === "city" ? text["screen.city"] : info.label || info.stream;
    if (info.live) {
      if (tile.stream.state === "offline" && !tile.stream.wanted) tile.stream.up();
      else if (!tile.stream.session) tile.stream.retryNow();
    } else if (tile.stream.wanted) {
      tile.stream.down();
    }
    cells.push(tile.el);
  }
  while (cells.length < state.grid) cells.push(blank());
  grid.replaceChildren(...cells);
  for (const tile of tiles.values()) tile.el.querySelector("video").play().catch(() => {});
  grid.dataset.layout = String(state.grid);
  root.dataset.grid = String(state.grid);
  root.dataset.streams = state.tiles.map((t) => t.stream).join(" ");
  document.getElementById("screen-empty").hidden = state.tiles.length > 0;
}

function stopAll() {
  for (const tile of tiles.values()) tile.stream.stop();
}

function connect() {
  let retry = 500;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = token ? `?token=${encodeURIComponent(token)}` : "";
    const socket = new WebSocket(`${scheme}//${location.host}${feed}${query}`);
    socket.addEventListener("open", () => {
      retry = 500;
      root.dataset.state = "open";
      notice.textContent = "";
    });
    socket.addEventListener("message", (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch { return; }
      if (event.topic === "dispatch.screen") show(event.data);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === GONE) {
        root.dataset.state = "gone";
        notice.textContent = text["screen.gone"];
        stopAll();
        return;
      }
      if (event.code === SESSION_ENDED) {
        stopAll();
        if (!token) { loginAgain(); return; }
        root.dataset.state = "gone";
        notice.textContent = text["screen.expired"];
        return;
      }
      root.dataset.state = "closed";
      notice.textContent = text["screen.reconnecting"];
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 10000);
    });
  };
  open();
}

async function sample() {
  await Promise.all([...tiles.values()].map(async (tile) => {
    const s = await tile.stream.sample();
    if (!s) return;
    tile.el.dataset.framesDecoded = s.framesDecoded;
    tile.el.querySelector(".stats").textContent =
      `${fmtResolution(s)} · ${Math.round(s.fps)} fps`;
  }));
}

document.getElementById("fullscreen").addEventListener("click", () => {
  document.documentElement.requestFullscreen().catch(() => {});
});
window.addEventListener("pagehide", stopAll);
connect();
setInterval(sample, 1000);
