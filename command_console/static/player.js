// The archive player: a recording's segments played back to back, positioned and sought by
// wall-clock time, and several recordings of the same period kept in step on one timeline.
//
// Each recording (a Track) has two <video> elements: the one in front plays segment n while
// the one behind has segment n+1 loaded; on `ended` they swap, so no seam shows. One clock
// (wall-clock milliseconds) drives every track: while a track plays, the first playing
// track is the master and the clock follows it; the others (followers) are nudged to the
// clock with playbackRate, or seeked when far off. Segment lists (wall-clock start/end) come
// from /api/recordings/{id}; the segment requests are audited by the server.

const TICK_MS = 100;
const SEEK_OVER_MS = 1000; // a follower further off than this is seeked, not nudged
const NUDGE_OVER_MS = 25; // within this, a follower plays at normal speed
const READY = 3;
const CONTIGUOUS_MS = 1500; // segments closer than this play as one (a frame apart at most) // HTMLMediaElement.HAVE_FUTURE_DATA

const config = JSON.parse(document.getElementById("player-config").textContent);
const msg = (key) => config.messages[`player.${key}`] || key;

function wallText(ms) {
  if (ms == null || !Number.isFinite(ms)) return "--:--:--.---";
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

class Track {
  constructor(figure, detail) {
    this.id = detail.recording.id;
    this.figure = figure;
    this.videos = [...figure.querySelectorAll("video")];
    this.nomedia = figure.querySelector(".nomedia");
    this.label = figure.querySelector(".trackpos");
    this.front = 0;
    const segs = (detail.manifest && detail.manifest.segments) || [];
    this.segments = segs.map((s) => ({
      index: s.index,
      url: `/api/recordings/${encodeURIComponent(this.id)}/segments/${s.index}`,
      start: Date.parse(s.start),
      end: Date.parse(s.end),
    }));
    this.start = this.segments.length ? this.segments[0].start : NaN;
    this.end = this.segments.length ? this.segments[this.segments.length - 1].end : NaN;
    this.onEnded = null;
    for (const v of this.videos) {
      v.addEventListener("ended", () => { if (v === this.frontVideo && this.onEnded) this.onEnded(this); });
    }
  }

  get frontVideo() { return this.videos[this.front]; }
  get backVideo() { return this.videos[1 - this.front]; }

  // The segment (list position) covering `wall`, or -1 in a gap or outside the recording.
  locate(wall) {
    for (let i = 0; i < this.segments.length; i++) {
      const s = this.segments[i];
      const next = this.segments[i + 1];
      // A segment's media ends a frame before the next one starts: no gap between them.
      const end = next && next.start - s.end < CONTIGUOUS_MS ? next.start : s.end;
      if (wall >= s.start && wall < end) return i;
    }
    return -1;
  }

  loaded(video) { return video.dataset.seg === undefined ? -1 : Number(video.dataset.seg); }

  load(video, i) {
    if (i < 0 || i >= this.segments.length || this.loaded(video) === i) return;
    video.dataset.seg = String(i);
    video.src = this.segments[i].url;
    video.load();
  }

  get current() { return this.loaded(this.frontVideo); }

  // Where the picture in front is, in wall-clock ms (null when none is showing).
  position() {
    const i = this.current;
    if (i < 0 || !this.nomedia.hidden) return null;
    return this.segments[i].start + this.frontVideo.currentTime * 1000;
  }

  ready() { return this.frontVideo.readyState >= READY && !this.frontVideo.seeking; }

  // Show segment i at `offset` seconds: swap in the preloaded video if it holds i.
  show(i, offset, playing) {
    if (this.current !== i) {
      if (this.loaded(this.backVideo) === i) this.swap();
      else this.load(this.frontVideo, i);
    }
    const v = this.frontVideo;
    if (offset != null && Math.abs(v.currentTime - offset) > 0.05) v.currentTime = Math.max(0, offset);
    this.nomedia.hidden = true;
    this.load(this.backVideo, i + 1);
    if (playing && v.paused && !v.ended && this.ready()) v.play().catch(() => {});
    if (!playing && !v.paused) v.pause();
  }

  swap() {
    const old = this.frontVideo;
    this.front = 1 - this.front;
    const v = this.frontVideo;
    v.playbackRate = old.playbackRate;
    v.classList.add("front");
    old.classList.remove("front");
    old.pause();
  }

  // Nothing recorded at this time.
  idle() {
    for (const v of this.videos) if (!v.paused) v.pause();
    this.nomedia.hidden = false;
  }

  setRate(rate) { if (Math.abs(this.frontVideo.playbackRate - rate) > 0.001) this.frontVideo.playbackRate = rate; }
}

class Player {
  constructor(tracks, root) {
    this.tracks = tracks;
    this.root = root;
    this.start = Math.min(...tracks.map((t) => t.start).filter(Number.isFinite));
    this.end = Math.max(...tracks.map((t) => t.end).filter(Number.isFinite));
    this.playing = false;
    this.anchorWall = this.start;
    this.anchorPerf = performance.now();
    this.master = null;
    this.maxDrift = 0;
    this.button = document.getElementById("playpause");
    this.clockOut = document.getElementById("position");
    this.driftOut = document.getElementById("drift");
    this.stateOut = document.getElementById("player-state");
    for (const t of tracks) {
      t.videos[0].classList.add("front");
      t.onEnded = (track) => this.segmentEnded(track);
    }
    this.button.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.seekbar = new SeekBar(document.getElementById("seekbar"), this);
    this.button.disabled = false;
    this.seek(Number.isFinite(config.at) ? config.at : this.start);
    setInterval(() => this.tick(), TICK_MS);
  }

  now() {
    return this.playing ? this.anchorWall + (performance.now() - this.anchorPerf) : this.anchorWall;
  }

  anchor(wall) { this.anchorWall = wall; this.anchorPerf = performance.now(); }

  play() {
    if (this.now() >= this.end) this.seek(this.start);
    this.anchor(this.now());
    this.playing = true;
    // The user's click allows sound: the first recording's, the others stay muted.
    for (const v of this.tracks[0].videos) v.muted = false;
    this.tick();
  }

  pause() {
    this.anchor(this.now());
    this.playing = false;
    for (const t of this.tracks) for (const v of t.videos) v.pause();
    this.tick();
  }

  seek(wall) {
    this.anchor(Math.min(Math.max(wall, this.start), this.end));
    this.master = null;
    for (const t of this.tracks) {
      const i = t.locate(this.anchorWall);
      if (i < 0) t.idle();
      else t.show(i, (this.anchorWall - t.segments[i].start) / 1000, false);
    }
    this.tick();
  }

  segmentEnded(track) {
    const next = track.current + 1;
    if (next < track.segments.length && track.segments[next].start - track.segments[next - 1].end < CONTIGUOUS_MS) {
      track.show(next, 0, this.playing); // the preloaded video: no seam
      if (track === this.master) this.anchor(track.segments[next].start);
    }
  }

  tick() {
    let wall = this.now();
    if (this.playing && wall >= this.end) {
      this.anchor(this.end);
      this.playing = false;
      wall = this.end;
    }
    const active = [];
    for (const t of this.tracks) {
      const i = t.locate(wall);
      if (i < 0) { t.idle(); continue; }
      if (t.current !== i) t.show(i, (wall - t.segments[i].start) / 1000, false);
      else t.nomedia.hidden = true;
      active.push(t);
    }
    const waiting = active.some((t) => !t.ready());
    if (this.playing && waiting) {
      // Hold the clock (and everyone) until every recording shown can play.
      this.anchor(wall);
      for (const t of active) if (!t.frontVideo.paused) t.frontVideo.pause();
      this.master = null;
    } else if (this.playing) {
      if (!this.master || !active.includes(this.master) || this.master.frontVideo.paused) {
        this.master = active.find((t) => !t.frontVideo.paused) || null;
      }
      if (this.master) {
        const pos = this.master.position();
        if (pos != null) { this.anchor(pos); wall = pos; }
        this.master.setRate(1);
      }
      let worst = 0;
      for (const t of active) {
        const v = t.frontVideo;
        if (v.paused) { if (!v.ended) v.play().catch(() => {}); continue; }
        if (t === this.master) continue;
        const drift = t.position() - wall;
        worst = Math.max(worst, Math.abs(drift));
        if (Math.abs(drift) > SEEK_OVER_MS) {
          v.currentTime = Math.max(0, (wall - t.segments[t.current].start) / 1000);
        } else if (Math.abs(drift) > NUDGE_OVER_MS) {
          t.setRate(Math.min(1.25, Math.max(0.8, 1 - drift / 1000)));
        } else {
          t.setRate(1);
        }
      }
      this.maxDrift = worst;
    } else {
      for (const t of active) if (!t.frontVideo.paused) t.frontVideo.pause();
      this.master = null;
    }
    this.render(wall, waiting);
  }

  render(wall, waiting) {
    this.clockOut.textContent = wallText(wall);
    this.clockOut.dataset.wall = String(Math.round(wall));
    this.button.textContent = this.playing ? `❚❚ ${msg("pause")}` : `▶ ${msg("play")}`;
    this.stateOut.textContent = this.playing && waiting ? msg("loading") : "";
    if (this.driftOut) this.driftOut.textContent = `${Math.round(this.maxDrift)} ms`;
    for (const t of this.tracks) {
      const pos = t.position();
      t.label.textContent = pos == null ? msg("no_media") : wallText(pos);
      t.figure.dataset.wall = pos == null ? "" : String(Math.round(pos));
      t.figure.dataset.segment = t.current >= 0 ? String(t.segments[t.current].index) : "";
    }
    this.seekbar.cursor(wall);
  }
}

// The timeline under the pictures: one lane per recording, its segments as blocks; a click
// seeks every recording to that wall-clock time.
class SeekBar {
  constructor(el, player) {
    this.el = el;
    this.player = player;
    const span = player.end - player.start || 1;
    const pct = (ms) => `${((ms - player.start) / span) * 100}%`;
    const inner = document.createElement("div");
    inner.className = "inner";
    el.append(inner);
    const ticks = document.createElement("div");
    ticks.className = "ticks";
    const step = niceStep(span);
    for (let t = Math.ceil(player.start / step) * step; t <= player.end; t += step) {
      const label = document.createElement("span");
      label.style.left = pct(t);
      label.textContent = wallText(t).slice(11, span > 600000 ? 16 : 19);
      ticks.append(label);
    }
    inner.append(ticks);
    for (const track of player.tracks) {
      const lane = document.createElement("div");
      lane.className = "lane";
      lane.dataset.recording = track.id;
      lane.title = track.figure.querySelector("figcaption b").textContent;
      track.segments.forEach((s, i) => {
        const prev = track.segments[i - 1];
        if (prev && s.start - prev.end >= CONTIGUOUS_MS) {
          // Not recorded in between (the continuity log below says why).
          const gap = document.createElement("div");
          gap.className = "seg gap";
          gap.style.left = pct(prev.end);
          gap.style.width = `${((s.start - prev.end) / span) * 100}%`;
          lane.append(gap);
        }
        const block = document.createElement("div");
        block.className = "seg";
        block.style.left = pct(s.start);
        block.style.width = `${((s.end - s.start) / span) * 100}%`;
        block.title = `#${s.index} ${wallText(s.start).slice(11)} – ${wallText(s.end).slice(11)}`;
        lane.append(block);
      });
      inner.append(lane);
    }
    // A session's marks (state changes, directions, comments) at their wall-clock time;
    // a click on one plays from there.
    const marks = (config.markers || []).filter((m) => m.at >= player.start && m.at <= player.end);
    if (marks.length) {
      const lane = document.createElement("div");
      lane.className = "lane marks";
      for (const m of marks) {
        const mark = document.createElement("button");
        mark.type = "button";
        mark.className = `mark ${m.kind}`;
        mark.dataset.at = String(m.at);
        mark.style.left = pct(m.at);
        mark.title = `${wallText(m.at).slice(11)} ${m.text}`;
        mark.addEventListener("click", (ev) => { ev.stopPropagation(); player.seek(m.at); });
        lane.append(mark);
      }
      inner.append(lane);
    }
    this.mark = document.createElement("div");
    this.mark.className = "cursor";
    inner.append(this.mark);
    el.addEventListener("click", (ev) => {
      const box = inner.getBoundingClientRect();
      const frac = Math.min(1, Math.max(0, (ev.clientX - box.left) / box.width));
      player.seek(player.start + frac * span);
    });
    this.pct = pct;
  }

  cursor(wall) { this.mark.style.left = this.pct(wall); }
}

function niceStep(spanMs) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].map((s) => s * 1000);
  return steps.find((s) => spanMs / s <= 10) || 3 * 3600 * 1000;
}

async function main() {
  const root = document.getElementById("player");
  const stateOut = document.getElementById("player-state");
  try {
    const details = await Promise.all(config.recordings.map(async (id) => {
      const r = await fetch(`/api/recordings/${encodeURIComponent(id)}`, { credentials: "same-origin" });
      if (!r.ok) throw new Error(`${id}: ${r.status} ${await r.text()}`);
      return r.json();
    }));
    const figures = [...root.querySelectorAll(".screen")];
    const tracks = details.map((d, i) => new Track(figures[i], d));
    if (!tracks.some((t) => t.segments.length)) throw new Error("no segments");
    window.vdPlayer = new Player(tracks, root);
    stateOut.textContent = "";
  } catch (err) {
    stateOut.textContent = `${msg("error")}: ${err.message}`;
    stateOut.classList.add("error");
  }
}

main();
