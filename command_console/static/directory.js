// The station directory beside the wall: stations grouped by county with their presence,
// per county how many are online and whether all are down (the server says so:
// /api/stations "counties"), in the wall's order (Chinese collation), and a link to the
// focus view of each station's live stream.
import { format, localTime, loginAgain } from "./session.js";

export class Directory {
  constructor(root, text) {
    this.root = root;
    this.text = text;
    this.data = null; // the last /api/stations answer
    this.live = new Set(); // stream ids on air (from the wall's /api/streams)
    this.timer = null;
  }

  // Fetch again soon (several events in a burst make one request).
  reload(delay = 200) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), delay);
  }

  async load() {
    let data = null;
    try {
      const resp = await fetch("/api/stations");
      if (resp.status === 401) { loginAgain(); return; }
      if (resp.ok) data = await resp.json();
    } catch { /* the node is away: keep what is shown */ }
    if (data === null) return;
    this.data = data;
    this.render();
  }

  setLive(ids) {
    this.live = new Set(ids);
    if (this.data) this.render();
  }

  // The first live stream of a station, if any (clicking the station focuses it).
  liveStream(station) {
    return station.streams.find((s) => this.live.has(s)) || null;
  }

  render() {
    const { stations, counties } = this.data;
    const t = this.text;
    document.getElementById("no-stations").hidden = stations.length > 0;
    const box = document.getElementById("counties");
    const parts = [];
    const byName = (a, b) => a.localeCompare(b, "zh-CN");
    const sorted = [...counties].sort((a, b) => byName(a.county, b.county));
    for (const county of sorted) {
      const section = document.createElement("section");
      section.className = "county";
      section.dataset.county = county.county;
      section.dataset.down = county.down ? "true" : "false";
      const head = document.createElement("h3");
      head.innerHTML = `<span class="name"></span><span class="flag"></span><span class="count"></span>`;
      head.querySelector(".name").textContent = county.county;
      head.querySelector(".flag").textContent = county.down ? t["wall.county_down"] : "";
      head.querySelector(".count").textContent =
        format(t["wall.county_count"], { online: county.online, total: county.stations });
      const list = document.createElement("ul");
      const here = stations.filter((x) => x.county === county.county);
      for (const s of here.sort((a, b) => byName(a.name, b.name))) {
        list.appendChild(this.stationItem(s));
      }
      section.append(head, list);
      parts.push(section);
    }
    box.replaceChildren(...parts);
    const down = counties.filter((c) => c.down).length;
    const alert = document.getElementById("counties-down");
    alert.hidden = down === 0;
    alert.textContent = format(t["wall.counties_down"], { n: down });
  }

  stationItem(s) {
    const t = this.text;
    const item = document.createElement("li");
    item.className = "entry";
    item.dataset.station = s.id;
    item.dataset.online = s.online ? "true" : "false";
    const stream = this.liveStream(s);
    const target = document.createElement(stream ? "a" : "span");
    target.className = "target";
    if (stream) {
      target.href = `/streams/${encodeURIComponent(stream)}`;
      target.dataset.stream = stream;
      target.title = t["wall.focus_hint"];
    }
    target.innerHTML = `<span class="dot"></span><span class="sname"></span><small class="kind"></small><time></time>`;
    target.querySelector(".sname").textContent = s.name;
    target.querySelector(".kind").textContent = t[`kind.${s.kind}`] || s.kind;
    const time = target.querySelector("time");
    if (s.last_seen) time.setAttribute("datetime", s.last_seen);
    time.textContent = s.online ? t["presence.online"] : s.last_seen
      ? `${t["presence.last_seen"]} ${localTime(s.last_seen).slice(5, 16)}` : t["presence.never"];
    item.appendChild(target);
    return item;
  }
}
