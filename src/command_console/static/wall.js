// Demo live wall: every live stream, over WHEP, with the browser's own stats.
import { whepSubscribe } from "./whep.js";

const wall = document.getElementById("wall");
const token = wall.dataset.token;
const tiles = new Map(); // stream id -> { el, session, lastBytes, lastTime }

async function refresh() {
  let streams = [];
  try {
    const resp = await fetch("/api/streams", { headers: { Authorization: `Bearer ${token}` } });
    if (resp.ok) streams = (await resp.json()).streams;
  } catch (e) { /* gateway restarting: keep tiles, retry */ }
  document.getElementById("summary").innerHTML = `${streams.length} 路直播 <small>live streams</small>`;
  const live = new Set(streams.map((s) => s.id));
  for (const s of streams) if (!tiles.has(s.id)) openTile(s.id);
  for (const [id, t] of tiles) if (!live.has(id)) closeTile(id, t);
}

function openTile(id) {
  const el = document.createElement("section");
  el.className = "tile";
  el.dataset.stream = id;
  el.innerHTML = `<video autoplay muted playsinline></video>
    <div class="label"><b></b><span class="state">● 连接中 <small>connecting</small></span></div><div class="stats"></div>`;
  el.querySelector("b").textContent = id;
  wall.appendChild(el);
  const tile = { el, session: null, lastBytes: 0, lastTime: 0 };
  tiles.set(id, tile);
  whepSubscribe(id, token, { onTrack: (stream) => { el.querySelector("video").srcObject = stream; } })
    .then((session) => {
      tile.session = session;
      el.querySelector(".state").innerHTML = "● 直播 <small>live</small>";
      session.pc.addEventListener("connectionstatechange", () => {
        if (["failed", "closed", "disconnected"].includes(session.pc.connectionState)) closeTile(id, tile);
      });
    })
    .catch(() => closeTile(id, tile));
}

function closeTile(id, tile) {
  if (tiles.get(id) !== tile) return;
  tiles.delete(id);
  if (tile.session) tile.session.close();
  tile.el.remove();
}

async function updateStats() {
  for (const tile of tiles.values()) {
    if (!tile.session) continue;
    const report = await tile.session.pc.getStats();
    report.forEach((r) => {
      if (r.type !== "inbound-rtp" || r.kind !== "video") return;
      const now = r.timestamp;
      const kbps = tile.lastTime ? ((r.bytesReceived - tile.lastBytes) * 8) / (now - tile.lastTime) : 0;
      tile.lastBytes = r.bytesReceived; tile.lastTime = now;
      const lost = r.packetsLost || 0, got = r.packetsReceived || 0;
      tile.el.dataset.framesDecoded = r.framesDecoded || 0;
      tile.el.querySelector(".stats").textContent =
        `${r.frameWidth || "?"}×${r.frameHeight || "?"} · ${Math.round(r.framesPerSecond || 0)} fps · ` +
        `${Math.round(kbps)} kb/s · loss ${got ? ((100 * lost) / (got + lost)).toFixed(1) : 0}%`;
    });
  }
}

refresh();
setInterval(refresh, 2000);
setInterval(updateStats, 1000);
