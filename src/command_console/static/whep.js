// Minimal WHEP client (RFC-style): one recvonly peer per stream, non-trickle.
export async function whepSubscribe(streamId, token, { onTrack } = {}) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.ontrack = (ev) => { stream.addTrack(ev.track); if (onTrack) onTrack(stream); };
  await pc.setLocalDescription(await pc.createOffer());
  await iceGatheringComplete(pc, 2000);
  const resp = await fetch(`/whep/${encodeURIComponent(streamId)}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
    body: pc.localDescription.sdp,
  });
  if (resp.status !== 201) {
    pc.close();
    throw new Error(`WHEP ${resp.status}: ${await resp.text()}`);
  }
  const location = resp.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
  return {
    pc, stream, location,
    async close() {
      // DELETE first: a closed peer makes the gateway drop the resource itself (then 404).
      if (location) {
        await fetch(location, {
          method: "DELETE", headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3000),
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
