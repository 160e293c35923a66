// One live stream played in a <video> over WHEP, for the wall's tiles and the focus view.
// The page tells it whether the server lists the stream as live (up()/down(): /api/streams
// and stream.up/down events decide, not this module); while it is wanted, a failed
// subscribe or a dropped peer is retried with back-off. sample() reads the browser's own
// getStats: resolution, fps, bit rate and loss over the last interval, and more.
import { loginAgain } from "./session.js";
import { whepSubscribe } from "./whep.js";

const RETRY_FIRST = 1000;
const RETRY_MAX = 15000;
const STALL_AFTER = 5000; // ms without a new decoded frame while connected

export class LiveStream {
  // onState(state): "connecting" | "live" | "stalled" | "offline" | "reconnecting".
  // auth: WHEP's auth (see whep.js), or an async function answering it for each attempt.
  // layer: the simulcast layer to ask for (whep.js): the wall's small tiles take "low".
  constructor(streamId, video, auth, onState = () => {}, layer = "auto") {
    this.id = streamId;
    this.layer = layer;
    this.video = video;
    this.auth = auth;
    this.onState = onState;
    this.state = "offline";
    this.wanted = false;
    this.session = null;
    this.attempt = 0; // the current subscribe; a newer one makes older results stale
    this.retryTimer = null;
    this.retryDelay = RETRY_FIRST;
    this.last = null; // previous stats sample, for rates
    this.lastFrames = 0;
    this.lastFrameAt = 0;
  }

  // The server lists the stream: play it (now, and again whenever it drops). Idempotent:
  // a retry already waiting keeps its back-off; retryNow() skips it.
  up() {
    if (this.wanted && (this.session || ["connecting", "reconnecting"].includes(this.state))) return;
    this.wanted = true;
    this.retryDelay = RETRY_FIRST;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  // The stream is back (stream.up): subscribe now, whatever the back-off said.
  retryNow() {
    if (this.session) return;
    this.wanted = true;
    this.retryDelay = RETRY_FIRST;
    clearTimeout(this.retryTimer);
    if (this.state !== "connecting") this.connect();
  }

  // The stream ended: say so and wait for up().
  down() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.drop();
    this.setState("offline");
  }

  // The tile left the page or the page closes: no video, no retries.
  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this.drop();
    this.setState("offline");
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  drop() {
    this.attempt += 1;
    const session = this.session;
    this.session = null;
    this.last = null;
    if (session) session.close();
    this.video.srcObject = null;
  }

  async connect() {
    const attempt = ++this.attempt;
    this.setState("connecting");
    let session;
    try {
      // A function: a fresh short-lived token per attempt (a session's media tokens).
      const auth = typeof this.auth === "function" ? await this.auth() : this.auth;
      if (attempt !== this.attempt) return;
      session = await whepSubscribe(this.id, auth, {
        layer: this.layer,
        onTrack: (stream) => {
          if (attempt !== this.attempt) return;
          if (this.video.srcObject !== stream) this.video.srcObject = stream;
          this.video.play().catch(() => {});
        },
      });
    } catch (error) {
      if (attempt !== this.attempt) return;
      if (error.status === 401) { loginAgain(); return; }
      this.failed();
      return;
    }
    if (attempt !== this.attempt || !this.wanted) { session.close(); return; }
    this.session = session;
    this.lastFrames = 0;
    this.lastFrameAt = performance.now();
    const pc = session.pc;
    pc.addEventListener("connectionstatechange", () => {
      if (this.session !== session) return;
      if (pc.connectionState === "connected") {
        this.retryDelay = RETRY_FIRST;
      } else if (["failed", "closed"].includes(pc.connectionState)) {
        this.drop();
        this.failed();
      }
    });
  }

  // A subscribe failed or the peer dropped while the stream is wanted: try again later.
  failed() {
    if (!this.wanted) { this.setState("offline"); return; }
    this.setState("reconnecting");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.wanted && !this.session && this.state !== "connecting") this.connect();
    }, this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX);
  }

  // The browser's statistics of this stream, rates over the time since the last call;
  // null when nothing is playing.
  async sample() {
    const session = this.session;
    if (!session) return null;
    let report;
    try { report = await session.pc.getStats(); } catch { return null; }
    if (session !== this.session) return null;
    let video = null, audio = null, pair = null, transport = null;
    const byId = new Map();
    report.forEach((r) => {
      byId.set(r.id, r);
      if (r.type === "inbound-rtp" && r.kind === "video") video = r;
      if (r.type === "inbound-rtp" && r.kind === "audio") audio = r;
      if (r.type === "transport") transport = r;
      if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") pair = r;
    });
    if (transport && transport.selectedCandidatePairId) {
      pair = byId.get(transport.selectedCandidatePairId) || pair;
    }
    const now = performance.now();
    const bytes = (video ? video.bytesReceived || 0 : 0) + (audio ? audio.bytesReceived || 0 : 0);
    const got = (video ? video.packetsReceived || 0 : 0) + (audio ? audio.packetsReceived || 0 : 0);
    const lost = (video ? video.packetsLost || 0 : 0) + (audio ? audio.packetsLost || 0 : 0);
    const prev = this.last;
    this.last = { now, bytes, got, lost };
    const seconds = prev ? (now - prev.now) / 1000 : 0;
    const dGot = prev ? got - prev.got : got;
    const dLost = prev ? Math.max(0, lost - prev.lost) : lost;
    const frames = video ? video.framesDecoded || 0 : 0;
    if (frames > this.lastFrames) { this.lastFrames = frames; this.lastFrameAt = now; }
    if (session.pc.connectionState === "connected") {
      this.setState(frames > 0 && now - this.lastFrameAt > STALL_AFTER ? "stalled"
        : frames > 0 ? "live" : this.state === "reconnecting" ? "reconnecting" : "connecting");
    }
    const codecOf = (r) => {
      const c = r && r.codecId ? byId.get(r.codecId) : null;
      return c ? c.mimeType.split("/")[1] : null;
    };
    return {
      width: video ? video.frameWidth || 0 : 0,
      height: video ? video.frameHeight || 0 : 0,
      fps: video ? video.framesPerSecond || 0 : 0,
      kbps: seconds > 0 ? ((bytes - prev.bytes) * 8) / seconds / 1000 : null,
      loss: dGot + dLost > 0 ? (100 * dLost) / (dGot + dLost) : 0,
      jitterMs: video && video.jitter !== undefined ? video.jitter * 1000 : null,
      framesDecoded: frames,
      framesDropped: video ? video.framesDropped || 0 : 0,
      rttMs: pair && pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : null,
      videoCodec: codecOf(video),
      audioCodec: codecOf(audio),
      audioLevel: audio && audio.audioLevel !== undefined ? audio.audioLevel : null,
    };
  }
}

// "640×360", "30 fps", "1.2 Mb/s" …: the same short forms on the wall and the focus view.
export function fmtResolution(s) {
  return s && s.width ? `${s.width}×${s.height}` : "–";
}

export function fmtBitrate(kbps) {
  if (kbps === null || kbps === undefined) return "–";
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mb/s` : `${Math.round(kbps)} kb/s`;
}

export function fmtLoss(loss) {
  return `${loss < 0.05 ? "0" : loss.toFixed(1)}%`;
}
