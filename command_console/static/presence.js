// Station presence cells (admin station list): kept current from station.presence events.
import { connectEvents, showEventsState } from "./events.js";
import { localTime, messages } from "./session.js";

const text = messages();

function show(cell, station) {
  cell.dataset.online = station.online ? "true" : "false";
  cell.querySelector(".state").textContent =
    station.online ? text["presence.online"] : text["presence.offline"];
  const time = cell.querySelector("time");
  if (station.last_seen) time.setAttribute("datetime", station.last_seen);
  time.textContent = station.online ? "" : station.last_seen
    ? `${text["presence.last_seen"]} ${localTime(station.last_seen)}` : text["presence.never"];
}

for (const cell of document.querySelectorAll("td.presence")) {
  const time = cell.querySelector("time");
  const iso = time.getAttribute("datetime");
  if (iso && cell.dataset.online !== "true") {
    time.textContent = `${text["presence.last_seen"]} ${localTime(iso)}`;
  }
}

connectEvents((event) => {
  if (event.topic !== "station.presence") return;
  const cell = document.querySelector(`td.presence[data-station="${CSS.escape(event.data.id)}"]`);
  if (cell) show(cell, event.data);
}, showEventsState);
