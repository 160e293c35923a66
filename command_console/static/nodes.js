// The cluster's nodes: the table and the alarm banner, refreshed from /api/nodes every
// few seconds (load changes continuously; no event says so).
import { format, loginAgain, messages } from "./session.js";

const EVERY = 3000;
const text = messages();
const body = document.querySelector("#nodes tbody");

function cell(value, cls) {
  const td = document.createElement("td");
  td.textContent = value;
  if (cls) td.className = cls;
  return td;
}

function row(n) {
  const tr = document.createElement("tr");
  tr.dataset.node = n.node_id;
  const name = cell(n.node_id);
  if (n.self) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = text["nodes.self"];
    name.append(" ", badge);
  }
  const load = n.load || {};
  tr.append(
    name,
    cell(n.url),
    cell(n.streams.length ? n.streams.join(", ") : text["nodes.none"]),
    cell(load.viewers ?? "", "num"),
    cell(load.relays ?? "", "num"),
    cell(load.cpu === undefined ? "" : `${load.cpu} %`, "num"),
    cell(load.loop_lag_ms === undefined ? "" : `${load.loop_lag_ms} ms`, "num"),
  );
  return tr;
}

function showAlarm(on) {
  let banner = document.getElementById("cluster-alarm");
  if (on && !banner) {
    banner = document.createElement("p");
    banner.id = "cluster-alarm";
    banner.className = "cluster-alarm";
    banner.setAttribute("role", "alert");
    banner.textContent = text["cluster.alarm"];
    document.querySelector("header.top").after(banner);
  } else if (!on && banner) {
    banner.remove();
  }
}

async function refresh() {
  try {
    const resp = await fetch("/api/nodes");
    if (resp.status === 401) { loginAgain(); return; }
    if (!resp.ok) return;
    const answer = await resp.json();
    body.replaceChildren(...answer.nodes.map(row));
    document.getElementById("nodes-summary").textContent = answer.clustered
      ? format(text["nodes.count"], { n: answer.nodes.length }) : text["nodes.alone"];
    showAlarm(answer.alarm);
  } catch { /* the node is away: keep what is shown */ }
}

setInterval(refresh, EVERY);
