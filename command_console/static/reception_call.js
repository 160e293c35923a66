// A reception's two-way call in the browser, the same at the kiosk and at the
// receptionist's: one's own camera and microphone published over WHIP, the other side's
// picture and sound played over WHEP. Each connection goes with a short-lived token the
// server mints for this call (`grant(direction)` answers {stream, token}, or throws an
// Error with the refusal's `status`). The other side may come on air later, or drop and
// come back: the WHEP side keeps trying until the call is stopped.
import { whepSubscribe } from "./whep.js";
import { whipPublish } from "./whip.js";

const RETRY_MS = 1500;
// A refusal of the call's token that no retry changes: revoked (401), refused (403), no
// call any more (409). WHIP/WHEP's own refusals are retried.
const FINAL = new Set([401, 403, 409]);

export class Call {
  // onState(side, state): side "publish" | "view"; state "connecting" | "waiting" | "live"
  // | "reconnecting" | "no_camera". onRefused(error): the grant was refused for good.
  constructor({ preview, remote, grant, onState = () => {}, onRefused = () => {}, onMuted = () => {} }) {
    Object.assign(this, { preview, remote, grant, onState, onRefused, onMuted });
    this.media = null;
    this.publisher = null;
    this.viewer = null;
    this.stopped = false;
    this.timers = new Set();
    this.state = { publish: "connecting", view: "waiting" };
  }

  async start() {
    try {
      this.media = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 360 }, audio: true,
      });
    } catch {
      this.set("publish", "no_camera");
    }
    if (this.stopped) { this.release(); return; }
    if (this.media) {
      this.preview.srcObject = this.media;
      this.preview.play().catch(() => {});
      this.publish();
    }
    this.view();
  }

  set(side, state) {
    if (this.state[side] === state) return;
    this.state[side] = state;
    this.onState(side, state);
  }

  later(then) {
    if (this.stopped) return;
    const timer = setTimeout(() => { this.timers.delete(timer); then(); }, RETRY_MS);
    this.timers.add(timer);
  }

  final(error) {
    if (!FINAL.has(error.status)) return false;
    this.onRefused(error);
    return true;
  }

  async publish() {
    if (this.stopped) return;
    this.set("publish", this.publisher === null && this.state.publish === "live" ? "reconnecting" : "connecting");
    let publisher = null;
    const changed = (state) => {
      if (publisher === null || this.publisher !== publisher) return;
      if (state === "connected") this.set("publish", "live");
      if (state === "failed" || state === "closed") {
        this.publisher = null;
        publisher.pc.close();
        this.set("publish", "reconnecting");
        this.later(() => this.publish());
      }
    };
    try {
      const grant = await this.grant("publish");
      if (this.stopped) return;
      // Its refusals pass (a 409 while the last publication of a reloaded page lingers).
      publisher = await whipPublish(grant.stream, grant.token, this.media, { onState: changed })
        .catch((error) => { error.media = true; throw error; });
    } catch (error) {
      if (!error.media && this.final(error)) return;
      this.set("publish", "reconnecting");
      this.later(() => this.publish());
      return;
    }
    if (this.stopped) { publisher.close(); return; }
    this.publisher = publisher;
    changed(publisher.pc.connectionState);
  }

  async view() {
    if (this.stopped) return;
    let viewer = null;
    const changed = () => {
      if (viewer === null || this.viewer !== viewer) return;
      const state = viewer.pc.connectionState;
      if (state === "connected") this.set("view", "live");
      if (state === "failed" || state === "closed") {
        this.viewer = null;
        viewer.pc.close();
        this.remote.srcObject = null;
        this.set("view", "reconnecting");
        this.later(() => this.view());
      }
    };
    try {
      const grant = await this.grant("view");
      if (this.stopped) return;
      viewer = await whepSubscribe(grant.stream, grant.token, { onTrack: (stream) => this.play(stream) })
        .catch((error) => { error.media = true; throw error; });
    } catch (error) {
      if (!error.media && this.final(error)) return;
      this.later(() => this.view()); // the other side is not on air yet (404)
      return;
    }
    if (this.stopped) { viewer.close(); return; }
    this.viewer = viewer;
    viewer.pc.addEventListener("connectionstatechange", changed);
    changed();
  }

  // The other side's picture with its sound; a browser that refuses sound before a click
  // plays it muted and the page offers a button (unmute()).
  play(stream) {
    if (this.remote.srcObject !== stream) this.remote.srcObject = stream;
    this.remote.play().catch(() => {
      this.remote.muted = true;
      this.remote.play().catch(() => {});
      this.onMuted(true);
    });
  }

  unmute() {
    this.remote.muted = false;
    this.remote.play().catch(() => {});
    this.onMuted(false);
  }

  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closing = [this.publisher, this.viewer].filter(Boolean).map((c) => c.close());
    this.publisher = this.viewer = null;
    await Promise.all(closing);
    this.release();
  }

  // For page unload: requests that outlive the page, no awaiting.
  closeOnUnload() {
    this.stopped = true;
    if (this.publisher) this.publisher.closeOnUnload();
    if (this.viewer) this.viewer.close();
    this.release();
  }

  release() {
    if (this.media) for (const track of this.media.getTracks()) track.stop();
    this.media = null;
    this.preview.srcObject = null;
    this.remote.srcObject = null;
  }
}
