// Minimal WHEP client (RFC-style): one recvonly peer per stream, non-trickle.
// `auth` is a Bearer token (string), or extra headers for a console session, whose cookie
// the browser sends itself: { "X-CSRF-Token": … } (see session.js csrfHeaders).
function authHeaders(auth) {
  if (typeof auth === "string") return { Authorization: `Bearer ${auth}` };
  return auth || {};
}

// layer: which simulcast layer to receive, "low" | "high" | "auto" (the server's default:
// the highest the viewer's bandwidth allows); a stream sent in one layer ignores it.
export async function whepSubscribe(streamId, auth, { onTrack, layer } = {}) {
  const headers = authHeaders(auth);
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (ev) => { stream.addTrack(ev.track); if (onTrack) onTrack(stream); };
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc, 2000);
  let resp;
  try {
    const query = layer ? `?layer=${encodeURIComponent(layer)}` : "";
    resp = await fetch(`/whep/${encodeURIComponent(streamId)}${query}`, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", ...headers },
      body: pc.localDescription.sdp,
    });
  } catch (error) {
    pc.close(); // the node is away: no peer left behind
    throw error;
  }
  if (resp.status !== 201) {
    pc.close();
    const error = new Error(`WHEP ${resp.status}: ${await resp.text()}`);
    error.status = resp.status;
    throw error;
  }
  const location = resp.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
  return {
    pc, stream, location,
    async close() {
      // DELETE first: a closed peer makes the gateway drop the resource itself (then 404).
      if (location) {
        await fetch(location, {
          // keepalive: also when the page is going away (pagehide).
          method: "DELETE", headers, keepalive: true, signal: AbortSignal.timeout(3000),
        }).catch(() => {});
      }
      pc.close();
    },
  };
}

export function iceGatheringComplete(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(done, timeoutMs);
  });
}
