// Shared by the participant room and the host console.
//
// Safety rule for this whole UI: text from people (names, messages, notes,
// reasons) only ever reaches the page as text nodes (`el`, `textContent`),
// isolated with <bdi> / dir="auto". Nothing here uses innerHTML.
// Every word the product itself says comes from the catalogs (i18n.js `t`), never from here.
import { lang, locale, t, tParts, translate } from "./i18n.js";

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

/** An element whose words come from the catalog `key` and follow a change of language. */
export function tEl(tag, props, key, params = {}) {
  return translate(el(tag, props), key, params);
}

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
    node.append(el("span", { class: "ctl", title: t("msg.ctl") }, code));
    last = match.index + match[0].length;
  }
  if (last < value.length) node.append(value.slice(last));
  return node;
}

// Dates and times in the chosen language (the clock itself stays the person's own time zone).
const formats = new Map();
function format(kind, options) {
  const key = kind + "|" + locale();
  if (!formats.has(key)) {
    formats.set(key, kind === "relative" ? new Intl.RelativeTimeFormat(locale(), options) : new Intl.DateTimeFormat(locale(), options));
  }
  return formats.get(key);
}

export function timeEl(ts) {
  const date = ts ? new Date(ts) : new Date();
  const valid = !Number.isNaN(date.getTime());
  const text = valid ? format("time", { hour: "2-digit", minute: "2-digit" }).format(date) : "";
  return el("time", { datetime: valid ? date.toISOString() : null }, text);
}

// ---- opening times: always in the person's own time zone (the browser's) ----------------------
const dayFormat = () => format("day", { weekday: "long" });
const longDayFormat = () => format("longday", { weekday: "long", day: "numeric", month: "long" });
const relativeFormat = () => format("relative", { numeric: "always" });
const clockFormat = () => format("clock", { hour: "numeric", minute: "2-digit" });

function localDay(date) {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** "in 3 hours", "in 25 minutes", "in 2 days" (or "3 hours ago"), rounded as people say it. */
export function relativeText(date, now = new Date()) {
  const minutes = Math.round((date.getTime() - now.getTime()) / 60000);
  if (Math.abs(minutes) < 1) return t("time.soon");
  if (Math.abs(minutes) < 60) return relativeFormat().format(minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (Math.abs(hours) < 36) return relativeFormat().format(hours, "hour");
  // Further off, days as on a calendar: Sunday 19:00 and Sunday 20:30 are both "in 2 days" on a Friday.
  return relativeFormat().format(Math.round((localDay(date) - localDay(now)) / 86400000), "day");
}

/**
 * A moment as a person says it, in their own time zone: "today 19:00", "tomorrow 09:30",
 * "Tuesday 19:00", or with the date when it is more than six days away. "" when not a time.
 */
export function dayAndTime(iso, now = new Date()) {
  const date = new Date(iso);
  if (!iso || Number.isNaN(date.getTime())) return "";
  const days = Math.round((localDay(date) - localDay(now)) / 86400000);
  const day = days === 0 ? t("time.today") : days === 1 ? t("time.tomorrow")
    : days > 1 && days < 7 ? dayFormat().format(date) : longDayFormat().format(date);
  return t("time.day_time", { day, time: clockFormat().format(date) });
}

/** "Opens Tuesday 19:00 (in 3 hours)": when a closed room opens, or "" when nobody can say. */
export function opensText(iso, now = new Date()) {
  const when = dayAndTime(iso, now);
  return when ? t("time.opens", { when, relative: relativeText(new Date(iso), now) }) : "";
}

// ---- helplines --------------------------------------------------------------
// Items come from rooms.yaml as they are: {name, phone?, sms?, sms_keyword?, url?, text?, hours?,
// countries?: ["GB", "IE"], pair?, checked?: "2026-12"}. An item without `countries` is for anyone,
// anywhere. The person's country is chosen in this browser and never sent to the server.

const NUMBER_SEPARATOR = /\s*\/\s*/;
const NUMBER_LABEL = /\s*\([^()]*[A-Za-z][^()]*\)\s*$/;
const DIALABLE = /^\+?[\d\s().-]{2,24}$/;

function dialDigits(number) {
  return number.replace(/[^\d+]/g, "");
}

/** "0800 111 0 111 / 0800 111 0 222" -> tap-to-call links joined by "or"; labels like "(EU)" stay as text. */
function phoneEls(phone) {
  const parts = String(phone).split(NUMBER_SEPARATOR).filter((p) => p.trim());
  const out = [];
  parts.forEach((part, i) => {
    if (i > 0) out.push(t("help.or"));
    const label = part.match(NUMBER_LABEL);
    const number = label ? part.slice(0, label.index) : part;
    if (DIALABLE.test(number)) out.push(el("a", { href: "tel:" + dialDigits(number) }, number));
    else out.push(el("strong", {}, number));
    if (label) out.push(label[0]);
  });
  return out;
}

function smsEls(sms, keyword) {
  const number = String(sms).trim();
  if (!DIALABLE.test(number)) return [el("strong", {}, number)];
  const word = keyword ? String(keyword).trim() : "";
  const href = "sms:" + dialDigits(number) + (word ? "?body=" + encodeURIComponent(word) : "");
  return word ? [el("a", { href }, t("help.sms_word", { word, number }))] : [el("a", { href }, number)];
}

function siteName(url) {
  try {
    return new URL(url).hostname.replace(/^www\./, "");
  } catch {
    return t("help.website");
  }
}

/** One helpline as a list item: its name, then Call / Text / the website, then its description. */
function resourceItemEl(item) {
  if (typeof item === "string") return el("li", {}, el("span", { class: "res-name", dir: "auto" }, item));
  const li = el("li", { class: item.pair ? "paired" : null },
    el("span", { class: "res-name", dir: "auto" }, String(item.name || t("help.support"))));
  const ways = [];
  if (item.phone) ways.push(tParts("help.call", { number: el("span", {}, ...phoneEls(item.phone)) }));
  if (item.sms) ways.push(tParts("help.text", { number: el("span", {}, ...smsEls(item.sms, item.sms_keyword)) }));
  if (item.url && /^https?:\/\/[^/\s]/i.test(String(item.url))) {
    ways.push([el("a", { href: String(item.url), rel: "noopener noreferrer", target: "_blank" }, siteName(String(item.url)))]);
  }
  if (ways.length) li.append(el("span", { class: "res-ways" }, ...ways.flatMap((w, i) => (i ? [" · ", ...w] : w))));
  const extra = [item.text, item.hours].filter(Boolean).map(String).join(" ");
  if (extra) li.append(el("span", { class: "hint res-text", dir: "auto" }, extra));
  return li;
}

/** A list of help resources: [{name, phone?, sms?, url?, text?}] or plain strings. */
export function resourcesEl(items) {
  return el("ul", { class: "resources" }, ...(items || []).filter((i) => i && (typeof i === "object" || typeof i === "string")).map(resourceItemEl));
}

const itemCountries = (item) => (Array.isArray(item?.countries) ? item.countries.map((c) => String(c).toUpperCase()) : []);

/**
 * The items for a country, in order: that country's services first (pair partners right after the
 * first of them, so a pair is always shown together), then those for anywhere. Others are left out.
 */
export function arrangeResources(items, country) {
  const usable = (items || []).filter((i) => i && typeof i === "object");
  const local = [];
  const placed = new Set();
  if (country) {
    for (const item of usable) {
      if (placed.has(item) || !itemCountries(item).includes(country)) continue;
      const group = item.pair ? usable.filter((o) => o.pair === item.pair && !placed.has(o)) : [item];
      for (const member of group) {
        placed.add(member);
        local.push(member);
      }
    }
  }
  const anywhere = usable.filter((i) => itemCountries(i).length === 0);
  return { local, anywhere };
}

/** Every country that has its own services in these items. */
export function resourceCountries(items) {
  return [...new Set((items || []).flatMap(itemCountries))];
}

function regionNames() {
  const key = "region|" + lang();
  if (!formats.has(key)) {
    try {
      formats.set(key, new Intl.DisplayNames([lang()], { type: "region" }));
    } catch {
      formats.set(key, null);
    }
  }
  return formats.get(key);
}

export function countryName(code) {
  try {
    return regionNames()?.of(code) || code;
  } catch {
    return code;
  }
}

/** A first guess at where the person is, from the browser's languages: en-GB -> GB, de -> DE. */
export function guessCountry(languages = navigator.languages || [navigator.language]) {
  const tags = (languages || []).filter(Boolean);
  for (const tag of tags) {
    const match = /^[a-z]{2,3}(?:-[a-z]{4})?-([a-z]{2})\b/i.exec(tag);
    if (match) return match[1].toUpperCase();
  }
  for (const tag of tags) {
    try {
      const region = new Intl.Locale(tag).maximize().region;
      if (region && /^[A-Z]{2}$/.test(region)) return region;
    } catch {
      /* not a language tag */
    }
  }
  return "";
}

/** The helplines for a country: its own under its name, then the ones for anywhere, then a note. */
export function helplinesEl(items, country) {
  const { local, anywhere } = arrangeResources(items, country);
  const box = el("div", { class: "helplines" });
  const name = country ? countryName(country) : "";
  // A list without country-keyed services has nothing to choose between: no headings, no notes.
  const keyed = resourceCountries(items).length > 0;
  if (keyed && local.length) {
    box.append(el("h3", {}, name), resourcesEl(local));
    if (anywhere.length) box.append(el("h3", {}, t("help.anywhere")));
  } else if (keyed && country) {
    box.append(el("p", { class: "res-none" }, t("help.none_for_country", { country: name })));
  } else if (keyed) {
    box.append(el("p", { class: "res-none" }, t("help.choose_country")));
  }
  if (anywhere.length) box.append(resourcesEl(anywhere));
  const checked = [...local, ...anywhere].map((i) => String(i.checked || "")).filter((c) => /^\d{4}-\d\d$/.test(c)).sort()[0];
  const when = checked
    ? format("month", { month: "long", year: "numeric" }).format(new Date(Number(checked.slice(0, 4)), Number(checked.slice(5, 7)) - 1, 15))
    : "";
  box.append(el("p", { class: "hint res-foot" },
    (when ? t("help.checked", { when }) + " " : "") + t("help.not_working")));
  return box;
}

/** Fill a <select> with the countries these items know, the current choice, and "Somewhere else". */
export function fillCountrySelect(select, items, country) {
  const codes = resourceCountries(items);
  if (country && !codes.includes(country)) codes.push(country);
  const options = codes.map((code) => ({ code, name: countryName(code) }))
    .sort((a, b) => a.name.localeCompare(b.name, lang()));
  select.replaceChildren(
    ...options.map((o) => el("option", { value: o.code }, o.name)),
    el("option", { value: "" }, t("help.somewhere_else")));
  select.value = country || "";
}

// Shown before a room's own list has arrived: emergency numbers, and a directory for anywhere.
export function fallbackResources() {
  const emergency = t("help.emergency");
  return [
    { name: emergency, countries: ["US", "CA", "MX"], phone: "911" },
    { name: emergency, countries: ["GB"], phone: "999" },
    { name: emergency, countries: ["IE"], phone: "112 / 999" },
    { name: emergency, countries: ["AU"], phone: "000" },
    { name: emergency, countries: ["NZ"], phone: "111" },
    { name: emergency, countries: ["DE", "FR", "ES", "IT", "NL", "PT", "IN"], phone: "112" },
    { name: emergency, phone: "112 / 911 / 999", text: t("help.emergency_text") },
    { name: t("help.directory"), url: "https://findahelpline.com", text: t("help.directory_text") },
  ];
}

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
