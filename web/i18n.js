// Every word a person reads comes from a message catalog (web/i18n/xx.json), never from code
// (issue 19; docs/web-languages.md). This module loads the person's catalog (and English, for any
// key a catalog lacks), looks words up, fills the page's data-i18n elements, sets <html lang dir>
// and builds the language picker.
//
// The language: the person's own choice (localStorage "cs.lang", this browser only), else the first
// of the browser's languages that has a catalog, else English. Which languages exist, and their
// names, is data (i18n/languages.json); a right-to-left catalog says so in its _meta ("dir": "rtl"),
// so adding Arabic or Hebrew needs no code change.
//
// Catalog values are plain text with {name} placeholders. They only ever reach the page as text
// (textContent, text nodes), never as markup; a placeholder can be filled with a Node (a <bdi> name).

const STORE_KEY = "cs.lang";
const BASE = "/static/i18n/";

let languages = { en: "English" };
let english = {};
let catalog = {};
// A page with words of its own beyond the participant's (the host console, the admin view) names
// their catalog folder: <meta name="i18n-catalog" content="console"> loads i18n/console/xx.json on
// top of xx.json. Its keys never repeat the participant's (tests/test_i18n_catalogs.py).
let section = "";
let current = "en";
let direction = "ltr";

function remembered() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || "null");
  } catch {
    return null;
  }
}

function remember(code) {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(code));
  } catch {
    /* private window: the choice lasts for this page only */
  }
}

async function getJson(path) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const response = await fetch(BASE + path, { credentials: "same-origin" });
      if (response.ok) return await response.json();
    } catch {
      /* once more, then without it */
    }
  }
  return null;
}

/** The first of `wanted` (language tags, in order of preference) that has a catalog; "en" if none. */
export function chooseLanguage(wanted, known = languages) {
  for (const tag of wanted || []) {
    if (!tag) continue;
    const lower = String(tag).toLowerCase();
    if (known[lower]) return lower;
    const primary = lower.split("-")[0];
    if (known[primary]) return primary;
  }
  return "en";
}

function browserLanguages() {
  return navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
}

/** The language now shown ("en", "es", …). */
export function lang() {
  return current;
}

/**
 * The locale for dates and times: the browser's own when it is in the language shown (en-GB keeps
 * its 24-hour clock and its day-month order), else the language itself.
 */
export function locale() {
  for (const tag of browserLanguages()) {
    if (tag && String(tag).toLowerCase().split("-")[0] === current) return String(tag);
  }
  return current;
}

/** Each language's name in its own words, by code. */
export function languageNames() {
  return { ...languages };
}

/** The words for `key`, with {placeholders} filled from `params` (as text). */
export function t(key, params = {}) {
  return tParts(key, params).map((p) => (typeof p === "string" ? p : p.textContent)).join("");
}

/** True when the catalogs have `key` (server codes we do not know fall back to the server's text). */
export function has(key) {
  return typeof catalog[key] === "string" || typeof english[key] === "string";
}

/**
 * The words for `key` as a list of strings and Nodes: a placeholder given a Node (a name in a
 * <bdi>, a <strong> time) stays that Node, so a person's name is never parsed as anything.
 */
export function tParts(key, params = {}) {
  const template = typeof catalog[key] === "string" ? catalog[key] : typeof english[key] === "string" ? english[key] : key;
  const out = [];
  let last = 0;
  for (const match of template.matchAll(/\{(\w+)\}/g)) {
    if (match.index > last) out.push(template.slice(last, match.index));
    const value = params[match[1]];
    if (value instanceof Node) out.push(value);
    else out.push(value === undefined || value === null ? match[0] : String(value));
    last = match.index + match[0].length;
  }
  if (last < template.length) out.push(template.slice(last));
  return out;
}

/**
 * Fill the page: an element with data-i18n="key" gets those words (its children marked
 * data-i18n-slot="name" are kept and put where {name} stands); data-i18n-attr="placeholder:key,
 * aria-label:key" sets attributes.
 */
export function applyI18n(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) {
    const params = args(node);
    for (const child of node.querySelectorAll(":scope > [data-i18n-slot]")) params[child.dataset.i18nSlot] = child;
    node.replaceChildren(...tParts(node.dataset.i18n, params));
  }
  for (const node of root.querySelectorAll("[data-i18n-attr]")) {
    const params = args(node);
    for (const pair of node.dataset.i18nAttr.split(",")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) node.setAttribute(attr, t(key, params));
    }
  }
}

function args(node) {
  try {
    return JSON.parse(node.dataset.i18nArgs || "{}");
  } catch {
    return {};
  }
}

/**
 * Give `node` the words for `key` and keep them in its data-i18n attributes, so a later change of
 * language re-translates it in place (a message's status, "You", a "joined" line). Node params
 * become its children (slots); other params are kept as text.
 */
export function translate(node, key, params = {}) {
  const text = {};
  for (const [name, value] of Object.entries(params)) {
    if (value instanceof Node) {
      if (value.nodeType === Node.ELEMENT_NODE) value.dataset.i18nSlot = name;
    } else if (value !== undefined && value !== null) text[name] = String(value);
  }
  node.dataset.i18n = key;
  if (Object.keys(text).length) node.dataset.i18nArgs = JSON.stringify(text);
  else delete node.dataset.i18nArgs;
  node.replaceChildren(...tParts(key, params));
  return node;
}

/** `node`'s attribute `attr` from `key`, kept for a later change of language. */
export function translateAttr(node, attr, key, params = {}) {
  const pairs = (node.dataset.i18nAttr || "").split(",").filter((p) => p && !p.startsWith(attr + ":"));
  node.dataset.i18nAttr = [...pairs, `${attr}:${key}`].join(",");
  if (Object.keys(params).length) node.dataset.i18nArgs = JSON.stringify({ ...args(node), ...params });
  node.setAttribute(attr, t(key, params));
  return node;
}

/** Load `code`'s catalog and show it: <html lang dir>, every data-i18n element, a "languagechange" event. */
export async function setLanguage(code, { save = true } = {}) {
  const chosen = languages[code] ? code : "en";
  const [own, extra] = chosen === "en" ? [english, null]
    : await Promise.all([getJson(chosen + ".json"), section ? getJson(`${section}/${chosen}.json`) : null]);
  const loaded = own && { ...own, ...(extra || {}), _meta: (extra || own)._meta };
  catalog = loaded || english;
  current = loaded ? chosen : "en";
  const meta = catalog._meta && typeof catalog._meta === "object" ? catalog._meta : {};
  direction = meta.dir === "rtl" ? "rtl" : "ltr";
  document.documentElement.lang = current;
  document.documentElement.dir = direction;
  if (save) remember(current);
  applyI18n();
  for (const select of document.querySelectorAll("select.lang-pick")) select.value = current;
  window.dispatchEvent(new CustomEvent("cs:language", { detail: { lang: current } }));
  return current;
}

/**
 * A labelled <select> of every language in its own name, for the page's header: choosing one
 * changes the page at once (no reload) and is remembered in this browser.
 */
export function languagePicker(id = "lang-pick") {
  const wrap = document.createElement("div");
  wrap.className = "lang";
  const label = document.createElement("label");
  label.htmlFor = id;
  label.className = "lang-label";
  label.dataset.i18n = "lang.label";
  label.textContent = t("lang.label");
  const select = document.createElement("select");
  select.id = id;
  select.className = "lang-pick";
  for (const [code, name] of Object.entries(languages)) {
    const option = document.createElement("option");
    option.value = code;
    option.lang = code;
    option.textContent = name;
    select.append(option);
  }
  select.value = current;
  select.addEventListener("change", () => setLanguage(select.value));
  wrap.append(label, select);
  return wrap;
}

/** Put the picker in every element marked data-lang-picker. */
export function mountPickers() {
  document.querySelectorAll("[data-lang-picker]").forEach((slot, i) => {
    slot.replaceChildren(languagePicker(i ? `lang-pick-${i + 1}` : "lang-pick"));
  });
}

/**
 * A notice or error from the server in the person's language: by its stable `code` (a few codes
 * read differently by a field: mode, slowmode, locked), else the server's own English words.
 */
export function serverText(frame, fallback = "") {
  const found = serverKey(frame);
  if (found && !serverWords(frame)) return t(found.key, found.params);
  return String(frame?.text || frame?.message || fallback || t("error.generic"));
}

/** A server notice or error as an element that follows later changes of language (see serverText). */
export function serverSpan(frame, fallback = "") {
  const node = document.createElement("span");
  const found = serverKey(frame);
  if (found) translate(node, found.key, found.params);
  if (!found || serverWords(frame)) node.textContent = serverText(frame, fallback);
  return node;
}

/**
 * The server's own words when the page is in English: they are the source the English catalog
 * follows, and may say more (a room's name, a time). In any other language the code decides.
 */
function serverWords(frame) {
  return current === "en" && Boolean(frame?.text || frame?.message);
}

/** {key, params} for a server frame whose code the catalogs know (and whose words they can fill), else null. */
function serverKey(frame) {
  const code = String(frame?.code || "");
  const params = { ...(frame || {}) };
  let key = "code." + code;
  // A few notices read differently by a field; an error with the same code is the plain one.
  const notice = frame.type === "notice";
  if (code === "mode") key += "." + String(frame.mode || "");
  else if (notice && code === "slowmode") {
    key += frame.slowmode ? "" : ".off";
    params.seconds = frame.slowmode;
  } else if (notice && code === "locked") key += frame.locked ? "" : ".off";
  else if (notice && code === "shield") key += frame.on === false ? ".off" : "";
  else if (notice && code === "duty") key += frame.on_duty === false ? ".off" : "";
  else if (notice && code === "crisis" && frame.risk === "imminent") key += ".imminent";
  else if (notice && code === "maybe_returning") key += frame.signal === "browser" ? ".browser" : ".network";
  else if (notice && code === "join_burst") key += frame.offer_shield === false ? ".applied" : "";
  // Errors that read differently by a field: still muted (how long is left, from retry_after), and a
  // room that is read-only or closed for want of a host (its mode's words) rather than locked.
  else if (!notice && code === "muted" && Number(frame.retry_after) > 0) {
    key += ".left";
    params.minutes = Math.floor(Number(frame.retry_after) / 60) + 1;
  } else if (!notice && code === "locked" && ["read_only", "closed"].includes(frame.mode)) key = "code.mode." + frame.mode;
  // A message shown and then taken back (it could not go out): the sender reads just that.
  else if (!notice && code === "unavailable" && frame.taken_back === true) key += ".taken_back";
  // A notice that says which host action it is about (done, removed: action mute, ban, kick…) has
  // words of its own per action where the catalogs have them, else the code's general words.
  else if (notice && frame.action && has(`${key}.${frame.action}`)) {
    key += "." + String(frame.action);
    if (frame.on === false && has(key + ".off")) key += ".off";
  }
  // A catalog sentence whose {placeholders} this frame cannot fill would say less than the server did.
  const template = typeof catalog[key] === "string" ? catalog[key] : english[key];
  const fillable = typeof template === "string"
    && [...template.matchAll(/\{(\w+)\}/g)].every((m) => params[m[1]] !== undefined && params[m[1]] !== null);
  if (!code || !fillable) return null;
  const used = {};
  for (const m of template.matchAll(/\{(\w+)\}/g)) used[m[1]] = params[m[1]];
  return { key, params: used };
}

/** Load the language list, English and the person's language; call once before drawing anything. */
export async function initI18n() {
  const stored = remembered();
  const guess = typeof stored === "string" ? stored : null;
  section = document.querySelector('meta[name="i18n-catalog"]')?.content?.replace(/[^a-z]/g, "") || "";
  const [list, en, sectionEn] = await Promise.all([
    getJson("languages.json"), getJson("en.json"), section ? getJson(`${section}/en.json`) : null]);
  if (list && typeof list === "object") languages = list;
  // A page says which languages it really speaks (the host console: those with a console catalog),
  // so that <html lang> never claims a language the page is not in.
  const only = document.querySelector('meta[name="i18n-languages"]')?.content;
  if (only) {
    const allowed = only.split(/[\s,]+/).filter((code) => languages[code]);
    languages = Object.fromEntries(allowed.map((code) => [code, languages[code]]));
    if (!languages.en) languages.en = "English";
  }
  english = { ...(en || {}), ...(sectionEn || {}) };
  catalog = english;
  const code = guess && languages[guess] ? guess : chooseLanguage(browserLanguages());
  await setLanguage(code, { save: false });
  return current;
}

// Every page module that imports this one starts with its words ready (one small fetch or two).
await initI18n();
