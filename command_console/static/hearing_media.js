// A session's media in the browser: the pictures (main + thumbnails), the city camera
// published by the director, push-to-talk channels (talk-back, reply) and the audio
// they are heard on. Every WHIP/WHEP goes with a short-lived token the server mints for
// this participant's part (/api/sessions/{id}/media): what reaches whom is the server's.
import { LiveStream } from "./live.js";
import { mediaToken } from "./sessions_api.js";
import { whipPublish } from "./whip.js";

const AUDIO_ONLY = new Set(["talkback", "reply"]);
const SPOKEN = 0.01; // an audio level above this is someone talking

// WHEP auth for one stream of the session: a fresh token per attempt.
export function viewToken(sessionId, streamId) {
  return async () => (await mediaToken(sessionId, "view", streamId)).token;
}

// The picture tiles, and the main picture showing one of them (the same MediaStream: no
// second subscription). `streams` updates come from /api/sessions/{id}/streams.
export class Stage {
  constructor(sessionId, text, { skip = () => false } = {}) {
    this.sessionId = sessionId;
    this.text = text;
    this.skip = skip;
    this.thumbs = document.getElementById("thumbs");
    this.main = document.getElementById("main");
    this.mainVideo = document.getElementById("main-video");
    this.tiles = new Map(); // stream id -> {el, live, info}
    this.timer = setInterval(() => this.sample(), 1000);
  }

  update(streams) {
    for (const info of streams) {
      if (AUDIO_ONLY.has(info.source) || this.skip(info)) continue;
      let tile = this.tiles.get(info.id);
      if (!tile) tile = this.add(info);
      tile.info = info;
      tile.el.dataset.recording = info.recording ? "true" : "false";
      tile.el.querySelector(".rec").hidden = !info.recording;
      if (info.on_air) tile.live.up();
      else if (tile.live.wanted) tile.live.down();
    }
    if (!this.main.dataset.stream && this.tiles.size) this.choose(this.tiles.keys().next().value);
    this.showMain();
  }

  add(info) {
    const el = document.createElement("section");
    el.className = "tile";
    el.dataset.stream = info.id;
    el.dataset.source = info.source;
    el.tabIndex = 0;
    const label = document.createElement("div");
    label.className = "label";
    const name = document.createElement("b");
    name.textContent = this.nameOf(info);
    const rec = document.createElement("span");
    rec.className = "rec";
    rec.textContent = `● ${this.text["hearing.rec"]}`;
    rec.hidden = true;
    const state = document.createElement("span");
    state.className = "state";
    label.append(name, rec, state);
    const video = document.createElement("video");
    Object.assign(video, { autoplay: true, muted: true, playsInline: true });
    el.append(label, video);
    el.addEventListener("click", () => this.choose(info.id));
    this.thumbs.append(el);
    // "high": the session's main picture shows this same stream (showMain)
    const live = new LiveStream(info.id, video, viewToken(this.sessionId, info.id), (s) => {
      el.dataset.state = s;
      state.textContent = this.text[`hearing.${s === "offline" ? "off_air" : s}`] || s;
      this.showMain();
    }, "high");
    const tile = { el, live, info };
    this.tiles.set(info.id, tile);
    return tile;
  }

  nameOf(info) {
    return info.source === "station" ? info.id : this.text["hearing.city_picture"];
  }

  choose(streamId) {
    this.main.dataset.stream = streamId;
    for (const [id, tile] of this.tiles) tile.el.setAttribute("aria-current", String(id === streamId));
    this.showMain();
  }

  showMain() {
    const tile = this.tiles.get(this.main.dataset.stream);
    if (!tile) return;
    const source = tile.live.video.srcObject;
    if (this.mainVideo.srcObject !== source) {
      this.mainVideo.srcObject = source;
      if (source) this.mainVideo.play().catch(() => {});
    }
    document.getElementById("main-name").textContent = this.nameOf(tile.info);
    document.getElementById("main-rec").hidden = !tile.info.recording;
    this.main.dataset.recording = tile.info.recording ? "true" : "false";
    this.main.dataset.state = tile.live.state;
  }

  async sample() {
    for (const tile of this.tiles.values()) {
      const stats = await tile.live.sample();
      tile.el.dataset.framesDecoded = String(stats ? stats.framesDecoded : 0);
    }
    this.showMain();
  }

  stop() {
    clearInterval(this.timer);
    for (const tile of this.tiles.values()) tile.live.stop();
  }
}

// An incoming audio channel (the earpiece, the director's reply speaker) on an <audio>;
// `root` gets data-live (someone is talking) and data-level (the last audio level).
export class AudioChannel {
  constructor(sessionId, streamId, audio, root, onTalking = () => {}) {
    this.root = root;
    this.onTalking = onTalking;
    this.live = new LiveStream(streamId, audio, viewToken(sessionId, streamId));
    this.timer = setInterval(() => this.sample(), 250);
  }

  update(info) {
    if (info && info.on_air) this.live.up();
    else if (this.live.wanted) this.live.down();
  }

  async sample() {
    const stats = await this.live.sample();
    const level = stats && stats.audioLevel !== null ? stats.audioLevel : 0;
    this.root.dataset.level = level.toFixed(3);
    const talking = level > SPOKEN;
    if (this.root.dataset.live !== String(talking)) {
      this.root.dataset.live = String(talking);
      this.onTalking(talking);
    }
  }

  stop() {
    clearInterval(this.timer);
    this.live.stop();
  }
}

// Push-to-talk over WHIP: connected ahead with the microphone's track disabled, so
// holding the button (or Space) only enables the track: no negotiation while talking.
export class PushToTalk {
  constructor(sessionId, suffix, root, button, stateEl, text) {
    Object.assign(this, { sessionId, suffix, root, button, stateEl, text });
    this.track = null;
    this.publisher = null;
    this.stopped = false;
    const press = (event) => { event.preventDefault(); this.talk(true); };
    const release = () => this.talk(false);
    button.addEventListener("pointerdown", press);
    for (const name of ["pointerup", "pointerleave", "pointercancel"]) {
      button.addEventListener(name, release);
    }
    window.addEventListener("blur", release);
    document.addEventListener("keydown", (event) => {
      if (event.code !== "Space" || event.repeat || typing(event.target)) return;
      event.preventDefault();
      this.talk(true);
    });
    document.addEventListener("keyup", (event) => { if (event.code === "Space") this.talk(false); });
  }

  async connect(microphone) {
    if (this.stopped) return;
    this.channel("connecting");
    try {
      if (!this.track) {
        this.track = microphone.getAudioTracks()[0].clone();
        this.track.enabled = false;
      }
      const grant = await mediaToken(this.sessionId, "publish", this.suffix);
      this.publisher = await whipPublish(grant.stream, grant.token, new MediaStream([this.track]), {
        onState: (state) => {
          if (state === "connected") this.channel("ready");
          if (["failed", "closed"].includes(state)) this.retry(microphone);
        },
      });
    } catch (error) {
      this.channel("failed");
      this.retry(microphone);
    }
  }

  retry(microphone) {
    if (this.stopped) return;
    const old = this.publisher;
    this.publisher = null;
    if (old) old.pc.close();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(microphone), 3000);
  }

  channel(state) {
    this.root.dataset.channel = state;
    this.stateEl.textContent = this.text[`hearing.ptt_${state}`];
  }

  talk(on) {
    if (!this.track || this.root.dataset.onAir === String(on)) return;
    this.track.enabled = on;
    this.root.dataset.onAir = String(on);
    this.button.textContent = this.text[on ? "hearing.on_air" : "hearing.off_air_ptt"];
    this.button.setAttribute("aria-pressed", String(on));
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.publisher) this.publisher.closeOnUnload();
    if (this.track) this.track.stop();
  }
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT", "BUTTON"].includes(target.tagName));
}

// The director's own camera and microphone as the session's city picture.
export class CityPublisher {
  constructor(sessionId, root, text) {
    this.sessionId = sessionId;
    this.root = root;
    this.text = text;
    this.preview = root.querySelector("video");
    this.button = root.querySelector("button");
    this.stateEl = document.getElementById("city-state");
    this.media = null;
    this.publisher = null;
    this.button.addEventListener("click", () => (this.publisher ? this.stop() : this.start()));
  }

  show(state) {
    this.root.dataset.state = state;
    const key = { connected: "hearing.publishing", failed: "hearing.publish_failed",
      error: "hearing.publish_failed" }[state] || (state === "idle" ? "hearing.publish_idle"
      : "hearing.ptt_connecting");
    this.stateEl.textContent = this.text[key];
    this.button.textContent = this.text[this.publisher || state === "connecting"
      ? "hearing.unpublish" : "hearing.publish"];
  }

  async start() {
    this.show("connecting");
    try {
      this.media = this.media || await navigator.mediaDevices.getUserMedia({
        video: { width: 320, height: 240 }, audio: true,
      });
      this.preview.srcObject = this.media;
      const grant = await mediaToken(this.sessionId, "publish", "city");
      this.publisher = await whipPublish(grant.stream, grant.token, this.media, {
        onState: (state) => this.show(state),
      });
      this.show(this.publisher.pc.connectionState);
    } catch (error) {
      this.publisher = null;
      this.show("error");
      this.stateEl.title = error.message || String(error);
    }
  }

  async stop() {
    const publisher = this.publisher;
    this.publisher = null;
    if (publisher) await publisher.close();
    this.show("idle");
  }

  closeOnUnload() {
    if (this.publisher) this.publisher.closeOnUnload();
    this.publisher = null;
  }
}
