// The console session as scripts see it: the CSRF header for state-changing requests
// (the cookie itself is HttpOnly), and the page's messages in its language.
export function csrfHeaders() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? { "X-CSRF-Token": meta.content } : {};
}

export function messages() {
  const el = document.getElementById("messages");
  return el ? JSON.parse(el.textContent) : {};
}

// "{n} live streams" with values filled in.
export function format(text, values = {}) {
  return String(text).replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : `{${k}}`));
}

export function loginAgain() {
  location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
}

// A <time datetime=…> shown in the browser's clock, as the server shows the node's.
export function localTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
