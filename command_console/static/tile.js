// One tile of the wall: caption (county, station, recording, state), the muted picture,
// and a stats line from the browser's getStats. Click (or Enter) opens the focus view.
import { fmtBitrate, fmtLoss, fmtResolution, LiveStream } from "./live.js";
import { format, localTime } from "./session.js";

const STATE_KEYS = {
  connecting: "wall.connecting",
  live: "wall.live",
  stalled: "wall.stalled",
  offline: "wall.offline",
  reconnecting: "wall.reconnecting",
};

export class Tile {
  constructor(info, auth, text) {
    this.id = info.id;
    this.text = text;
    this.info = info;
    this.offlineSince = null; // when the server stopped listing the stream
    const el = document.createElement("section");
    el.className = "tile";
    el.dataset.stream = info.id;
    el.tabIndex = 0;
    el.title = text["wall.focus_hint"];
    el.innerHTML = `<div class="label"><span class="county"></span><b></b>` +
      `<span class="rec" hidden></span><span class="state"></span></div>` +
      `<video autoplay muted playsinline></video><div class="stats"></div>`;
    el.querySelector(".rec").textContent = `● ${text["wall.rec"]}`;
    this.el = el;
    const video = el.querySelector("video");
    video.muted = true;
    // a small tile: the lowest simulcast layer (16 tiles decode 16 small streams)
    this.stream = new LiveStream(info.id, video, auth, (state) => this.showState(state), "low");
    this.showState("connecting");
    this.update(info);
    const open = () => location.assign(`/streams/${encodeURIComponent(this.id)}`);
    el.addEventListener("click", open);
    el.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  }

  // The server's view of the stream (/api/streams item): names, recording.
  update(info) {
    this.info = { ...this.info, ...info };
    const i = this.info;
    this.el.querySelector("b").textContent = i.station || i.id;
    this.el.querySelector(".county").textContent = i.county || "";
    this.el.dataset.station = i.station_id || "";
    this.el.dataset.node = i.node || ""; // clustered: the node holding it
    this.setRecording(Boolean(i.recording));
  }

  setRecording(on) {
    this.el.dataset.recording = on ? "true" : "false";
    this.el.querySelector(".rec").hidden = !on;
  }

  showState(state) {
    this.el.dataset.state = state;
    this.el.querySelector(".state").textContent = this.text[STATE_KEYS[state]];
    // Across the picture too, readable from across the room.
    this.el.dataset.notice = ["offline", "reconnecting", "stalled"].includes(state)
      ? this.text[STATE_KEYS[state]] : "";
    if (state === "offline" || state === "reconnecting") {
      this.el.querySelector(".stats").textContent = "";
      this.el.dataset.framesDecoded = "0"; // a new peer counts from zero
    }
  }

  // The server no longer lists the stream: say so, and since when; wait for it.
  wentOffline(when) {
    if (this.offlineSince !== null) return;
    this.offlineSince = when;
    this.setRecording(false);
    this.stream.down();
    const time = localTime(new Date(when).toISOString()).slice(11);
    this.el.querySelector(".stats").textContent = format(this.text["wall.since"], { time });
  }

  async sample() {
    const s = await this.stream.sample();
    if (!s) return;
    this.el.dataset.framesDecoded = s.framesDecoded;
    this.el.querySelector(".stats").textContent =
      `${fmtResolution(s)} · ${Math.round(s.fps)} fps · ${fmtBitrate(s.kbps)} · ` +
      `${this.text["wall.loss"]} ${fmtLoss(s.loss)}`;
  }
}
