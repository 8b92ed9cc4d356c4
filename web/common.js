// Shared by the participant room and the host console.
//
// Safety rule for this whole UI: text from people (names, messages, notes,
// reasons) only ever reaches the page as text nodes (`el`, `textContent`),
// isolated with <bdi> / dir="auto". Nothing here uses innerHTML.

/** Build an element. Children that are not Nodes become text nodes. */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** A person's name: isolated, so a right-to-left or tricky name cannot reorder what follows. */
export function nameEl(name, extraClass = "") {
  return el("bdi", { class: ("name " + extraClass).trim() }, String(name ?? ""));
}

// Explicit embeddings, overrides and isolates: legitimate text almost never
// needs them, and they are how "exe.jpg" tricks work. Shown, never obeyed.
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;

/** Message text as a <p dir="auto">, with direction-control characters made visible. */
export function textEl(text, tag = "p", extraClass = "") {
  const node = el(tag, { class: ("text " + extraClass).trim(), dir: "auto" });
  const value = String(text ?? "");
  let last = 0;
  for (const match of value.matchAll(BIDI_CONTROLS)) {
    if (match.index > last) node.append(value.slice(last, match.index));
    const code = "U+" + match[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    node.append(el("span", { class: "ctl", title: "hidden text-direction character" }, code));
    last = match.index + match[0].length;
  }
  if (last < value.length) node.append(value.slice(last));
  return node;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

export function timeEl(ts) {
  const date = ts ? new Date(ts) : new Date();
  const valid = !Number.isNaN(date.getTime());
  return el("time", { datetime: valid ? date.toISOString() : null }, valid ? timeFormat.format(date) : "");
}

export function waitedText(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `waiting ${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `waiting ${m} min`;
  return `waiting ${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A list of help resources: [{name, phone?, url?, text?}] or plain strings. */
export function resourcesEl(items) {
  const list = el("ul", { class: "resources" });
  for (const item of items || []) {
    if (typeof item === "string") {
      list.append(el("li", {}, el("span", { class: "res-name", dir: "auto" }, item)));
      continue;
    }
    if (!item || typeof item !== "object") continue;
    const li = el("li", {}, el("span", { class: "res-name", dir: "auto" }, String(item.name || "Support")));
    if (item.phone) {
      const phone = String(item.phone);
      // Only a single number becomes a tap-to-call link; "112 / 911 / 999" stays text.
      if (/^\+?[\d\s().-]{3,20}$/.test(phone)) {
        li.append("Call ", el("a", { href: "tel:" + phone.replace(/[^\d+]/g, "") }, phone));
      } else {
        li.append("Call ", el("strong", {}, phone));
      }
    }
    if (item.url && /^https?:\/\//i.test(String(item.url))) {
      if (item.phone) li.append(" · ");
      li.append(el("a", { href: String(item.url), rel: "noopener noreferrer", target: "_blank" }, "Website"));
    }
    const extra = item.text || item.hours || item.description;
    if (extra) li.append(el("span", { class: "hint", dir: "auto" }, " " + String(extra)));
    list.append(li);
  }
  return list;
}

export const FALLBACK_RESOURCES = [
  { name: "Emergency services", phone: "112 / 911 / 999", text: "If you are in danger right now." },
];

// ---- storage: never throws (private windows and full quotas do) ----
export const store = {
  get(area, key, fallback = null) {
    try {
      const raw = area.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(area, key, value) {
    try {
      area.setItem(key, JSON.stringify(value));
    } catch {
      /* storage unavailable: the page still works, it just forgets */
    }
  },
  remove(area, key) {
    try {
      area.removeItem(key);
    } catch {
      /* ignore */
    }
  },
};
export const tabStore = (() => {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
})();
export const deviceStore = (() => {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
})();
export const ss = {
  get: (k, d = null) => (tabStore ? store.get(tabStore, k, d) : d),
  set: (k, v) => tabStore && store.set(tabStore, k, v),
  remove: (k) => tabStore && store.remove(tabStore, k),
};
export const ls = {
  get: (k, d = null) => (deviceStore ? store.get(deviceStore, k, d) : d),
  set: (k, v) => deviceStore && store.set(deviceStore, k, v),
  remove: (k) => deviceStore && store.remove(deviceStore, k),
};

export function newId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * One WebSocket to /ws that says hello, keeps itself alive and comes back by
 * itself: backoff with jitter after a drop or a server restart (1012), at once
 * when the browser says it is online again, and a ping/pong watchdog for
 * connections that die silently.
 *
 * Events: "state" (detail: {state}) with state connecting|open|reconnecting|closed,
 * and "frame" (detail: frame) for every JSON frame from the server.
 */
export class ChatSocket extends EventTarget {
  constructor(helloFrame, { pingEvery = 15000, pongWithin = 8000, maxDelay = 8000 } = {}) {
    super();
    this.helloFrame = helloFrame; // () => {name, token?, resume?}
    this.pingEvery = pingEvery;
    this.pongWithin = pongWithin;
    this.maxDelay = maxDelay;
    this.ws = null;
    this.state = "closed";
    this.attempts = 0;
    this.stopped = true;
    this.retryTimer = 0;
    this.pingTimer = 0;
    this.watchdog = 0;
    this.welcomed = false;
    this.onOnline = () => {
      if (!this.stopped && this.state !== "open") this.connectNow();
    };
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.onOnline();
    };
  }

  get url() {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.retryTimer);
    this.dropSocket(1000);
    this.setState("closed");
  }

  /** Send a frame; false when there is no open, welcomed connection. */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.welcomed) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, attempts: this.attempts } }));
  }

  connectNow() {
    clearTimeout(this.retryTimer);
    this.attempts = 0;
    this.dropSocket(4000);
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.setState(this.attempts === 0 && !this.everOpen ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "hello", ...this.helloFrame() }));
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!frame || typeof frame !== "object") return;
      clearTimeout(this.watchdog);
      if (frame.type === "pong") return;
      if (frame.type === "welcome") {
        this.welcomed = true;
        this.everOpen = true;
        this.attempts = 0;
        this.setState("open");
        this.schedulePing();
      }
      this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.welcomed = false;
      clearTimeout(this.pingTimer);
      clearTimeout(this.watchdog);
      this.dispatchEvent(new CustomEvent("closed", { detail: { code: event.code, reason: event.reason } }));
      this.scheduleRetry();
    };
    ws.onerror = () => {
      /* onclose follows and schedules the retry */
    };
  }

  scheduleRetry() {
    if (this.stopped) return;
    this.setState("reconnecting");
    const base = Math.min(this.maxDelay, 400 * 2 ** this.attempts);
    const delay = base * (0.75 + Math.random() * 0.5);
    this.attempts += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  schedulePing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      if (!this.send({ type: "ping" })) return;
      this.watchdog = setTimeout(() => {
        // No answer at all: the connection is dead even if the browser has not noticed.
        const ws = this.ws;
        if (ws) {
          this.ws = null;
          this.dropSocket(4000, ws);
          this.scheduleRetry();
        }
      }, this.pongWithin);
      this.schedulePing();
    }, this.pingEvery);
  }

  dropSocket(code, ws = this.ws) {
    clearTimeout(this.pingTimer);
    clearTimeout(this.watchdog);
    if (!ws) return;
    if (ws === this.ws) this.ws = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code === 1000 ? 1000 : 4000);
    } catch {
      /* already closed */
    }
    this.welcomed = false;
  }
}

/** A short-lived, polite status message (role=status lives in the page). */
export function flash(node, text, ms = 5000) {
  if (!node) return;
  node.textContent = text;
  clearTimeout(node._timer);
  node._timer = setTimeout(() => {
    node.textContent = "";
  }, ms);
}
