// Live updates: the node's /ws/events socket (session cookie), reconnecting with back-off.
// onEvent gets {topic, data, node, dropped}; onState gets "open" or "closed". When the
// session has ended (close code 4401, or a refused handshake and /api/session says 401),
// the page goes back to the login.
import { loginAgain } from "./session.js";

const SESSION_ENDED = 4401;

async function sessionEnded() {
  try {
    return (await fetch("/api/session")).status === 401;
  } catch {
    return false; // the node is away: keep trying
  }
}

export function connectEvents(onEvent, onState = () => {}) {
  let socket = null;
  let retry = 500;
  let stopped = false;

  function open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let opened = false;
    socket = new WebSocket(`${scheme}//${location.host}/ws/events`);
    socket.addEventListener("open", () => { opened = true; retry = 500; onState("open"); });
    socket.addEventListener("message", (msg) => {
      let event;
      try { event = JSON.parse(msg.data); } catch { return; }
      if (event.topic === "cluster.alarm") showClusterAlarm(event.data.on);
      if (event.topic === "catalog.alarm") showAlarm("catalog-alarm", event.data.down);
      onEvent(event);
    });
    socket.addEventListener("close", async (event) => {
      onState("closed");
      if (stopped) return;
      if (event.code === SESSION_ENDED || (!opened && (await sessionEnded()))) {
        loginAgain();
        return;
      }
      setTimeout(open, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  open();
  return { close() { stopped = true; if (socket) socket.close(); } };
}

// The small "live updates" indicator in the header, if the page has one.
export function showEventsState(state) {
  const el = document.getElementById("events-state");
  if (el) el.dataset.state = state;
}

// The banner saying this node lost the cluster's Redis (layout.html; for the roles that
// get cluster.alarm), on every page with live updates.
export function showClusterAlarm(on) {
  showAlarm("cluster-alarm", on);
}

// A banner of layout.html by id (cluster-alarm, catalog-alarm): shown while `on`.
function showAlarm(id, on) {
  const el = document.getElementById(id);
  if (el) el.hidden = !on;
}
