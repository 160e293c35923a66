// Minimal WHIP client (RFC 9725): one sendonly peer for a local MediaStream, non-trickle.
import { iceGatheringComplete } from "./whep.js";

// Three layers, lowest first (the gateway takes the offer's order): quarter, half, full size.
const SIMULCAST = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 2000000 },
];

// simulcast: send the video in three layers, so the wall's small tiles take the low one.
export async function whipPublish(streamId, token, stream, { onState, simulcast = false } = {}) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  for (const track of stream.getTracks()) {
    const init = { direction: "sendonly", streams: [stream] };
    if (simulcast && track.kind === "video") init.sendEncodings = SIMULCAST;
    pc.addTransceiver(track, init);
  }
  if (onState) pc.addEventListener("connectionstatechange", () => onState(pc.connectionState));
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc, 2000);
  const resp = await fetch(`/whip/${encodeURIComponent(streamId)}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
    body: pc.localDescription.sdp,
  });
  if (resp.status !== 201) {
    pc.close();
    const error = new Error(`WHIP ${resp.status}: ${(await resp.text()).trim()}`);
    error.status = resp.status;
    throw error;
  }
  const location = resp.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
  const del = (keepalive) => fetch(location, {
    method: "DELETE", keepalive, headers: { Authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(3000),
  }).catch(() => {});
  // DELETE before closing the peer: closing first makes the gateway drop the resource on
  // its own, and the DELETE would then find nothing (404).
  return {
    pc, location,
    async close() {
      if (location) await del(false);
      pc.close();
    },
    // For page unload: the request must outlive the page, so no awaiting.
    closeOnUnload() {
      if (location) del(true);
      pc.close();
    },
  };
}
