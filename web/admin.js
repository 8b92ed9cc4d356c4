// The admin view: every room's people and held queue, recent escalations, and a
// read-only search of the audit log (with the transcript participants saw).
//
// Read-only by design: nothing here changes a room. The admin token lives only
// in this tab's sessionStorage and goes out as `Authorization: Bearer TOKEN`.
// Everything people typed reaches the page through `el` / `nameEl` / `textEl`
// (text nodes, <bdi>, dir="auto"); nothing uses innerHTML.
// Every word comes from the console catalog (web/i18n/console/xx.json; docs/web-languages.md).
import { $, dayAndTime, el, nameEl, relativeText, ss, tEl, textEl } from "./common.js";
import { has, locale, mountPickers, t, tParts, translate, translateAttr } from "./i18n.js";

const TOKEN_KEY = "cs.admin.token";
const REFRESH_MS = 5000;
/** Rows drawn in the results table; more are counted (up to COUNT_ROWS) but not shown. */
const SHOW_ROWS = 500;
const COUNT_ROWS = 5000;
const SHOW_MESSAGES = 1000;
const SHOW_ESCALATIONS = 50;
/** rooms.yaml's default `escalate_after`, used when nothing better is known for a room. */
const DEFAULT_ESCALATE_S = 120;
const KINDS = [
  "join", "leave", "published", "held", "rejected", "released", "deleted", "muted", "unmuted",
  "kicked", "banned", "unbanned", "slowmode", "lock", "report", "note", "refused", "filter_error",
  "escalated", "reload", "publish_failed",
];

const state = {
  token: null,
  borrowed: false, // the token came from the host console in this tab (not typed here)
  rooms: [],
  titles: new Map(), // room id -> title
  escalations: new Map(), // audit id -> <li>, newest first
  escalateAfter: new Map(), // room id -> smallest waited_s seen in an escalation (≈ escalate_after)
  timer: 0,
  busy: null, // the refresh in flight
  lastRefresh: 0,
  problem: "",
  search: null, // AbortController of the running search or transcript
};

/** The server refused the token (401/403). */
class Refused extends Error {
  constructor(status) {
    super(`refused (${status})`);
    this.status = status;
  }
}

async function api(path, signal) {
  let response;
  try {
    response = await fetch(path, {
      headers: { Authorization: `Bearer ${state.token}` },
      cache: "no-store",
      signal,
    });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new Error(t("admin.error.no_answer"));
  }
  if (response.status === 401 || response.status === 403) throw new Refused(response.status);
  if (!response.ok) {
    let message = "";
    try {
      message = String((await response.json()).message || "");
    } catch {
      /* not JSON */
    }
    throw new Error(message || t("admin.error.status", { status: response.status }));
  }
  return response;
}

/**
 * Read a JSON-lines body row by row; `onRow` returns false to stop reading
 * (the rest of the response is cancelled, so a huge export is not downloaded).
 */
async function readLines(response, onRow) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const take = (line) => (line.trim() ? onRow(JSON.parse(line)) !== false : true);
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (!take(line)) {
        reader.cancel().catch(() => {});
        return;
      }
    }
    if (done) break;
  }
  take(buffer);
}

// ---- times ---------------------------------------------------------------------
// In the language shown (the browser's own locale when it is in that language): made again on a switch.
let dateTimeFormat;
let clockFormat;
function makeFormats() {
  dateTimeFormat = new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "medium" });
  clockFormat = new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
makeFormats();

function fullTimeEl(ts) {
  const date = new Date(ts);
  if (Number.isNaN(date.getTime())) return el("span", {}, String(ts ?? ""));
  return el("time", { datetime: date.toISOString() }, dateTimeFormat.format(date));
}

function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return t("admin.duration.seconds", { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t("admin.duration.minutes", { n: m });
  return t("admin.duration.hours", { h: Math.floor(m / 60), m: m % 60 });
}

const pad = (n) => String(n).padStart(2, "0");

/** A Date as a `datetime-local` value (the browser's local time, to the minute). */
function toLocalInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A `datetime-local` value (local time) as ISO UTC; "" when empty, null when not a time. */
function fromLocalInput(value) {
  if (!value) return "";
  const date = new Date(value); // a date-time without an offset is local time
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** `key`.one or `key`.many, with {n}: the catalogs say each. */
const plural = (key, n, params = {}) => t(`${key}.${n === 1 ? "one" : "many"}`, { n, ...params });

// ---- signing in and out -----------------------------------------------------------
function showSignin(error = "") {
  stopRefreshing();
  $("#view-admin").hidden = true;
  $("#view-signin").hidden = false;
  $("#who").hidden = true;
  $("#sign-out").hidden = true;
  $("#signin-error").textContent = error;
  $("#admin-token").focus();
}

function showAdmin(moveFocus) {
  $("#view-signin").hidden = true;
  $("#view-admin").hidden = false;
  $("#who").hidden = false;
  $("#sign-out").hidden = false;
  if (moveFocus) $("#admin-title").focus();
}

async function signIn(token, { borrowed = false, typed = false } = {}) {
  state.token = token;
  state.borrowed = borrowed;
  const button = $("#signin-form button[type=submit]");
  button.disabled = true;
  try {
    await refresh({ throwing: true });
  } catch (err) {
    if (err instanceof Refused) {
      refused(false);
      return;
    }
    if (typed) {
      state.token = null;
      showSignin(t("admin.signin.try_again", { message: err.message }));
      return;
    }
    // A stored token and a server that is down: show the view, it keeps trying.
    setProblem(err.message || t("admin.error.load"));
  } finally {
    button.disabled = false;
  }
  if (!borrowed) ss.set(TOKEN_KEY, token);
  showAdmin(typed);
  scheduleRefresh();
}

/** The server said no: forget the token and say why, plainly. */
function refused(wasSignedIn) {
  const message = t(state.borrowed ? "admin.refused.borrowed" : wasSignedIn ? "admin.refused.revoked" : "admin.refused.not_admin",
    { command: "chatserver hosts add NAME --admin" });
  forget();
  showSignin(message);
}

function forget() {
  state.search?.abort();
  state.search = null;
  state.token = null;
  state.borrowed = false;
  ss.remove(TOKEN_KEY);
  state.rooms = [];
  state.titles.clear();
  state.escalations.clear();
  state.escalateAfter.clear();
  state.problem = "";
  $("#rooms-table tbody").replaceChildren();
  $("#coverage-table tbody").replaceChildren();
  $("#escalations").replaceChildren();
  $("#results-table tbody").replaceChildren();
  $("#transcript-list").replaceChildren();
  $("#results").hidden = true;
  $("#transcript").hidden = true;
  showMissing([]);
  for (const id of ["#held-summary", "#people-summary", "#rooms-updated", "#search-status", "#search-error",
    "#coverage-summary", "#coverage-hosts", "#coverage-next"]) {
    $(id).textContent = "";
  }
  $("#q-room").replaceChildren(tEl("option", { value: "" }, "admin.search.all_rooms"));
}

function signOut() {
  if (state.borrowed) {
    // The same credential signs this tab in to the host console: signing out forgets it there too.
    for (const key of ["cs.host.token", "cs.host.resume"]) ss.remove(key);
  }
  forget();
  showSignin();
}

// ---- refreshing: rooms and escalations ------------------------------------------------
function scheduleRefresh() {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    // In a background tab, wait: coming back (focus / visibility) refreshes at once.
    if (!document.hidden) await refresh();
    if (state.token) scheduleRefresh();
  }, REFRESH_MS);
}

function stopRefreshing() {
  clearTimeout(state.timer);
  state.timer = 0;
}

function refreshSoon() {
  if (!state.token || $("#view-admin").hidden) return;
  if (Date.now() - state.lastRefresh < 1000) return;
  refresh();
  scheduleRefresh();
}

/** Fetch rooms and escalations together and draw both; one refresh at a time. */
function refresh({ throwing = false } = {}) {
  const token = state.token;
  if (!state.busy) {
    state.busy = (async () => {
      try {
        const [rooms, escalations] = await Promise.all([fetchRooms(), fetchEscalations()]);
        if (state.token !== token) return; // signed out meanwhile: draw nothing
        state.lastRefresh = Date.now();
        learnTitles(rooms);
        renderEscalations(escalations);
        renderRooms(rooms);
        renderCoverage(rooms);
        setProblem("");
      } finally {
        state.busy = null;
      }
    })();
  }
  return state.busy.catch((err) => {
    if (throwing) throw err;
    if (state.token !== token || !token) return;
    if (err instanceof Refused) refused(true);
    else if (state.token) setProblem(err.message || t("admin.error.refresh"));
  });
}

async function fetchRooms() {
  const rooms = await (await api("/api/admin/rooms")).json();
  return Array.isArray(rooms) ? rooms : [];
}

async function fetchEscalations() {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const response = await api(`/api/audit?kind=escalated&since=${encodeURIComponent(since)}`);
  const rows = [];
  await readLines(response, (row) => {
    rows.push(row);
    if (rows.length > SHOW_ESCALATIONS * 4) rows.splice(0, rows.length - SHOW_ESCALATIONS);
  });
  // Oldest first from the log; the smallest wait per room approximates its escalate_after.
  state.escalateAfter.clear();
  for (const row of rows) {
    const waited = Number(row.detail?.waited_s);
    if (!row.room || !Number.isFinite(waited)) continue;
    const known = state.escalateAfter.get(row.room);
    state.escalateAfter.set(row.room, known === undefined ? waited : Math.min(known, waited));
  }
  return rows.reverse().slice(0, SHOW_ESCALATIONS);
}

function setProblem(text) {
  state.problem = text;
  if (text) {
    const when = state.lastRefresh ? " " + t("admin.problem.last", { time: clockFormat.format(new Date(state.lastRefresh)) }) : "";
    $("#rooms-updated").textContent = "";
    say($("#held-summary"), t("admin.problem", { problem: text }) + when);
    $("#held-summary").classList.add("summary-problem");
  } else {
    $("#held-summary").classList.remove("summary-problem");
  }
}

/** Set a live region's text only when it changes, so an unchanged refresh says nothing. */
function say(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function escalateAfter(room) {
  const configured = Number(room.escalate_after);
  if (Number.isFinite(configured) && configured > 0) return configured;
  return state.escalateAfter.get(room.id) ?? DEFAULT_ESCALATE_S;
}

function roomTitle(id) {
  return state.titles.get(id) || id || "";
}

function learnTitles(rooms) {
  state.rooms = rooms;
  state.titles = new Map(rooms.map((r) => [r.id, String(r.title || r.id)]));
}

function renderRooms(rooms) {
  learnTitles(rooms);
  syncRoomChoices();

  const body = $("#rooms-table tbody");
  const rows = new Map([...body.children].map((tr) => [tr.dataset.room, tr]));
  let people = 0;
  let held = 0;
  let heldRooms = 0;
  let longRooms = 0;
  rooms.forEach((room, index) => {
    let tr = rows.get(room.id);
    if (!tr) tr = newRoomRow(room.id);
    rows.delete(room.id);
    if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] || null);

    const members = Number(room.members) || 0;
    const waiting = typeof room.held === "number" ? room.held : null; // absent: the held queue did not answer
    const oldest = Number(room.oldest_held_s) || 0;
    const long = Boolean(waiting && oldest >= escalateAfter(room));
    people += members;
    if (waiting) {
      held += waiting;
      heldRooms += 1;
    }
    if (long) longRooms += 1;

    const ui = tr._ui;
    ui.title.textContent = roomTitle(room.id);
    ui.members.textContent = String(members);
    ui.held.textContent = waiting === null ? "?" : String(waiting);
    translateAttr(ui.search, "aria-label", "admin.rooms.search_label", { room: roomTitle(room.id) });
    tr.classList.toggle("long", long);
    if (waiting === null) {
      ui.oldest.replaceChildren(el("span", { class: "hint" }, t("admin.rooms.unknown")));
    } else if (!waiting) {
      ui.oldest.replaceChildren(el("span", { class: "hint" }, t("admin.rooms.nothing")));
    } else {
      ui.oldest.replaceChildren(duration(oldest), long ? " " : "", long ? el("span", { class: "badge urgent" }, t("admin.rooms.long")) : "");
    }
  });
  for (const tr of rows.values()) tr.remove();

  $("#people-summary").textContent = t("admin.rooms.people", { people: plural("admin.n.people", people), rooms: plural("admin.n.rooms", rooms.length) });
  $("#rooms-updated").textContent = t("admin.rooms.updated", { time: clockFormat.format(new Date()) });
  let summary = held
    ? plural("admin.held", held, { rooms: plural("admin.n.rooms", heldRooms) })
    : t("admin.held.none");
  if (longRooms) summary = t("admin.held.with_long", { held: summary, long: plural("admin.held.long", longRooms) });
  say($("#held-summary"), t("admin.sentence", { text: summary }));
  $("#held-summary").classList.toggle("summary-long", longRooms > 0);
}

// ---- coverage: rooms open without a host, the next gaps, who is on duty where ----------------------
/** What a room does while no host is on duty, in a few words; an unknown value as it is. */
const unhostedWords = (value) => (has(`admin.unhosted.${value}`) ? t(`admin.unhosted.${value}`) : String(value || ""));

/** "Tuesday 19:00 (in 3 hours)" in the admin's own time zone; "" when there is no such time. */
function whenText(iso) {
  const day = dayAndTime(iso);
  return day ? t("admin.when", { day, relative: relativeText(new Date(iso)) }) : "";
}

/** Where a room stands: within its timetable or not (a room without hours always is). */
function inHours(room) {
  if (!room.next_closing) return !room.next_opening;
  return !room.next_opening || room.next_closing < room.next_opening;
}

function nowText(room, onDuty) {
  if (room.mode === "closed") {
    if (inHours(room)) return [t("admin.now.closed_no_host")];
    const opens = whenText(room.next_opening);
    return [opens ? t("admin.now.closed_until", { when: opens }) : t("admin.now.closed")];
  }
  if (onDuty.length) return [t("admin.now.hosted")];
  const more = ["premoderate", "read_only"].includes(room.mode) ? t("admin.now.more", { mode: unhostedWords(room.mode) }) : "";
  return [el("strong", {}, t("admin.now.unhosted")), more];
}

function gapText(room) {
  if (!room.next_closing && !room.next_opening) return el("span", { class: "hint" }, t("admin.gap.none"));
  if (!inHours(room)) return t("admin.gap.now", { until: whenText(room.next_opening) });
  if (!room.next_opening) return t("admin.gap.from", { from: whenText(room.next_closing) });
  return t("admin.gap.from_to", { from: whenText(room.next_closing), to: dayAndTime(room.next_opening) });
}

function renderCoverage(rooms) {
  const body = $("#coverage-table tbody");
  const where = new Map(); // host name -> titles of the rooms they are on duty in
  const unhosted = [];
  let open = 0;
  const rows = rooms.map((room) => {
    const onDuty = Array.isArray(room.hosts_on_duty) ? room.hosts_on_duty.map(String) : [];
    const names = Array.isArray(room.host_names) ? room.host_names.map(String) : [];
    const title = roomTitle(room.id);
    for (const name of onDuty) where.set(name, [...(where.get(name) || []), title]);
    const isOpen = room.mode !== "closed";
    if (isOpen) open += 1;
    if (isOpen && !onDuty.length) unhosted.push(title);
    const tr = el("tr", { dataset: { room: room.id }, class: isOpen && !onDuty.length ? "unhosted" : null },
      el("th", { scope: "row" }, el("span", { class: "room-name", dir: "auto" }, title)),
      el("td", { class: "mode" }, ...nowText(room, onDuty)),
      el("td", { class: "on-duty" }, onDuty.length
        ? onDuty.flatMap((n, i) => (i ? [", ", nameEl(n)] : [nameEl(n)]))
        : [el("span", { class: "hint" }, t("admin.on_duty.none")),
          names.length ? el("span", { class: "hint" }, " ",
            ...tParts("admin.on_duty.its_hosts", { names: el("span", {}, ...names.flatMap((n, i) => (i ? [", ", nameEl(n)] : [nameEl(n)]))) })) : null]),
      el("td", { class: "gap" }, gapText(room)),
      el("td", {}, unhostedWords(room.when_unhosted)));
    return tr;
  });
  body.replaceChildren(...rows);

  let summary;
  if (unhosted.length) {
    summary = plural("admin.coverage.unhosted", unhosted.length, { rooms: unhosted.join(", ") });
  } else if (open) {
    summary = plural("admin.coverage.hosted", open);
  } else {
    summary = t("admin.coverage.none_open");
  }
  say($("#coverage-summary"), summary);
  $("#coverage-summary").classList.toggle("gap", unhosted.length > 0);

  $("#coverage-hosts").replaceChildren(...(where.size
    ? tParts("admin.coverage.on_duty", {
      list: el("span", {}, ...[...where].flatMap(([name, titles], i) => [i ? "; " : "",
        ...tParts("admin.coverage.host_in", { name: nameEl(name), rooms: titles.join(", ") })])),
    })
    : [t("admin.coverage.nobody")]));

  // The soonest change in the timetables: the next room to close, and the next to open.
  const soonest = (list, key) => list.filter((r) => r[key]).sort((a, b) => (a[key] < b[key] ? -1 : 1))[0];
  const closing = soonest(rooms.filter(inHours), "next_closing"); // a closed room's next closing is no gap
  const opening = soonest(rooms, "next_opening");
  const next = [];
  if (closing) next.push(t("admin.coverage.next_close", { room: roomTitle(closing.id), when: whenText(closing.next_closing) }));
  if (opening) {
    const hosts = new Set(Array.isArray(opening.host_names) ? opening.host_names : []);
    const ready = [...where.keys()].some((n) => hosts.has(n));
    next.push(t(ready ? "admin.coverage.next_open" : "admin.coverage.next_open_no_host", { room: roomTitle(opening.id), when: whenText(opening.next_opening) }));
  }
  $("#coverage-next").textContent = next.join(" ");
}

function newRoomRow(id) {
  const ui = {
    title: el("span", { class: "room-name", dir: "auto" }),
    members: el("td", { class: "num members" }),
    held: el("td", { class: "num held" }),
    oldest: el("td", { class: "oldest" }),
    search: tEl("button", { type: "button", class: "link" }, "admin.rooms.search"),
  };
  ui.search.addEventListener("click", () => {
    $("#q-room").value = id;
    runSearch();
    $("#search-title").scrollIntoView();
  });
  const tr = el("tr", { dataset: { room: id } },
    el("th", { scope: "row" }, ui.title, " ", el("span", { class: "hint room-id" }, id)),
    ui.members, ui.held, ui.oldest, el("td", {}, ui.search));
  tr._ui = ui;
  return tr;
}

/** Keep the room choices in step with the rooms, without losing what is selected. */
function syncRoomChoices() {
  const select = $("#q-room");
  const wanted = ["", ...state.rooms.map((r) => r.id)];
  const have = [...select.options].map((o) => o.value);
  const same = wanted.length === have.length && wanted.every((v, i) => v === have[i])
    && [...select.options].slice(1).every((o) => o.textContent === roomTitle(o.value));
  if (same) return;
  const selected = select.value;
  select.replaceChildren(tEl("option", { value: "" }, "admin.search.all_rooms"),
    ...state.rooms.map((r) => el("option", { value: r.id }, roomTitle(r.id))));
  if (wanted.includes(selected)) select.value = selected;
}

function renderEscalations(rows) {
  const list = $("#escalations");
  // Audit ids are per machine: with several machines, the machine is part of a row's key.
  const keyOf = (r) => (r.source ? `${r.source}/${r.id}` : String(r.id));
  const keep = new Set(rows.map(keyOf));
  for (const [id, li] of state.escalations) {
    if (!keep.has(id)) {
      li.remove();
      state.escalations.delete(id);
    }
  }
  // Newest first: what is new is newer than everything shown, so it goes on top, in order.
  let before = list.firstElementChild;
  for (const row of rows) {
    const id = keyOf(row);
    const known = state.escalations.get(id);
    if (known) {
      known.querySelector(".esc-room").textContent = roomTitle(row.room);
      labelFind(known.querySelector("button"), row);
      before = known.nextElementSibling;
      continue;
    }
    const li = escalationItem(row);
    state.escalations.set(id, li);
    list.insertBefore(li, before);
    before = li.nextElementSibling;
  }
  $("#esc-count").textContent = String(rows.length);
  $("#esc-empty").hidden = rows.length > 0;
}

function escalationItem(row) {
  const waited = Number(row.detail?.waited_s);
  const find = tEl("button", { type: "button", class: "link" }, "admin.esc.find");
  find.addEventListener("click", () => {
    const at = new Date(row.ts);
    if (Number.isNaN(at.getTime())) return;
    $("#q-room").value = row.room || "";
    $("#q-kind").value = "";
    $("#q-since").value = toLocalInput(new Date(at.getTime() - 3600 * 1000));
    $("#q-until").value = toLocalInput(new Date(at.getTime() + 2 * 60 * 1000));
    runSearch();
    $("#search-title").scrollIntoView();
  });
  const room = el("strong", { class: "esc-room", dir: "auto" }, roomTitle(row.room));
  const li = el("li", { class: "item", dataset: { id: String(row.id) } },
    el("div", { class: "item-head" }, room, el("span", { class: "meta" }, fullTimeEl(row.ts))),
    Number.isFinite(waited)
      ? tEl("p", { class: "meta" }, "admin.esc.waited", { duration: duration(waited) })
      : tEl("p", { class: "meta" }, "admin.esc.too_long"),
    find);
  labelFind(find, row);
  return li;
}

function labelFind(button, row) {
  const at = new Date(row.ts);
  const room = roomTitle(row.room);
  if (Number.isNaN(at.getTime())) translateAttr(button, "aria-label", "admin.esc.find_label", { room });
  else translateAttr(button, "aria-label", "admin.esc.find_label_at", { room, time: clockFormat.format(at) });
}

// ---- the audit search and the transcript ------------------------------------------------
function readForm() {
  const error = $("#search-error");
  error.textContent = "";
  const since = fromLocalInput($("#q-since").value);
  const until = fromLocalInput($("#q-until").value);
  if (since === null || until === null) {
    error.textContent = t("admin.search.bad_dates");
    return null;
  }
  if (since && until && since >= until) {
    error.textContent = t("admin.search.from_before_to");
    $("#q-since").focus();
    return null;
  }
  return {
    room: $("#q-room").value,
    kind: $("#q-kind").value,
    since,
    until,
    redact: $("#q-redact").checked,
  };
}

function startRequest() {
  state.search?.abort();
  const controller = new AbortController();
  state.search = controller;
  return controller;
}

function failRequest(err, controller) {
  if (err?.name === "AbortError" || controller !== state.search) return;
  showMissing([]);
  if (err instanceof Refused) {
    refused(true);
    return;
  }
  $("#search-status").textContent = "";
  $("#search-error").textContent = err.message || t("console.failed");
}

async function runSearch() {
  const q = readForm();
  if (!q || !state.token) return;
  const controller = startRequest();
  const params = new URLSearchParams();
  for (const key of ["room", "kind", "since", "until"]) if (q[key]) params.set(key, q[key]);
  if (q.redact) params.set("redact", "1");
  $("#search-status").textContent = t("admin.search.searching");
  $("#results").setAttribute("aria-busy", "true");
  try {
    const response = await api(`/api/audit?${params}`, controller.signal);
    const rows = [];
    let total = 0;
    await readLines(response, (row) => {
      if (controller !== state.search) return false;
      total += 1;
      if (rows.length < SHOW_ROWS) rows.push(row);
      return total <= COUNT_ROWS;
    });
    if (controller !== state.search) return;
    renderResults(rows, total, q);
    showMissing(missingMachines(response));
  } catch (err) {
    failRequest(err, controller);
  } finally {
    $("#results").removeAttribute("aria-busy");
  }
}

function renderResults(rows, total, q) {
  $("#transcript").hidden = true;
  $("#results").hidden = false;
  $("#results-table tbody").replaceChildren(...rows.map(resultRow));
  let status;
  const number = (n) => n.toLocaleString(locale());
  if (!total) status = t("admin.results.none");
  else if (total <= SHOW_ROWS) status = plural("admin.results.found", total);
  else {
    const counted = total > COUNT_ROWS ? t("admin.results.more_than", { n: number(COUNT_ROWS) }) : number(total);
    status = t("admin.results.first", { shown: SHOW_ROWS, total: counted });
  }
  if (q.redact && total) status += " " + t("admin.results.masked");
  $("#search-status").textContent = status;
}

function resultRow(row) {
  const actor = row.actor || {};
  const who = actor.name
    ? [nameEl(actor.name), actor.session ? el("span", { class: "hint session" }, String(actor.session)) : ""]
    : el("span", { class: "hint" }, actor.session ? String(actor.session) : t("admin.results.server"));
  return el("tr", { dataset: { kind: String(row.kind || "") } },
    el("td", { class: "when" }, fullTimeEl(row.ts), sourceEl(row.source)),
    el("td", {}, row.room ? el("span", { dir: "auto" }, roomTitle(row.room)) : el("span", { class: "hint" }, t("admin.results.all_rooms"))),
    el("td", { class: "kind" }, String(row.kind || "")),
    el("td", { class: "who" }, who),
    el("td", { class: "row-text" }, row.text ? textEl(row.text) : ""),
    el("td", {}, detailsEl(row)));
}

function detailValue(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(", ");
  if (value && typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function detailsEl(row) {
  const list = el("ul", { class: "details" });
  const add = (key, value) => {
    if (value === null || value === undefined || value === "") return;
    list.append(el("li", {}, el("span", { class: "k" }, key), " ", textEl(detailValue(value), "span")));
  };
  for (const [key, value] of Object.entries(row.detail || {})) add(key, value);
  add("about", row.subject);
  add("message", row.message_id);
  add("seq", row.seq);
  return list;
}

async function showTranscript() {
  const q = readForm();
  if (!q || !state.token) return;
  if (!q.room) {
    $("#search-error").textContent = t("admin.transcript.choose_room");
    $("#q-room").focus();
    return;
  }
  const controller = startRequest();
  const params = new URLSearchParams({ room: q.room });
  if (q.since) params.set("since", q.since);
  if (q.until) params.set("until", q.until);
  $("#search-status").textContent = t("admin.transcript.loading");
  try {
    const response = await api(`/api/admin/transcript?${params}`, controller.signal);
    const messages = await response.json();
    if (controller !== state.search) return;
    renderTranscript(q.room, Array.isArray(messages) ? messages : []);
    showMissing(missingMachines(response));
  } catch (err) {
    failRequest(err, controller);
  }
}

function renderTranscript(room, messages) {
  $("#results").hidden = true;
  $("#transcript").hidden = false;
  translate($("#transcript-title"), "admin.transcript.of", { room: roomTitle(room) });
  const shown = messages.slice(0, SHOW_MESSAGES);
  $("#transcript-list").replaceChildren(...shown.map(transcriptItem));
  let status = messages.length
    ? plural("admin.transcript.count", messages.length, { room: roomTitle(room) })
    : t("admin.transcript.none", { room: roomTitle(room) });
  if (messages.length > shown.length) status += " " + t("admin.transcript.first", { n: SHOW_MESSAGES });
  $("#search-status").textContent = status;
}

function transcriptItem(m) {
  const from = m.from || {};
  const host = from.role === "host" || from.role === "admin";
  return el("li", { class: host ? "line host" : "line" },
    el("div", { class: "msg-head" },
      nameEl(from.name || t("host.someone")),
      host ? el("span", { class: "badge" }, t("host.chip.host")) : "",
      fullTimeEl(m.ts),
      m.cw ? el("span", { class: "badge warn", dir: "auto" }, t("admin.transcript.cw", { cw: m.cw })) : "",
      sourceEl(m.source)),
    textEl(m.text));
}

// ---- one view of every machine (issue 18) ------------------------------------------
/** Which machine recorded a row, as a small muted label; nothing when the view is one machine's. */
function sourceEl(source) {
  if (!source) return "";
  const machine = String(source);
  return el("span", { class: "hint source", title: t("admin.source.label", { machine }) },
    t("admin.source", { machine }));
}

/**
 * The machines whose rows an answer lacks, from `Chatserver-Audit-Missing`
 * ("b (did not answer), c (no CHATSERVER_MACHINE_URL)"), as sentences to show.
 */
function missingMachines(response) {
  const header = response.headers.get("chatserver-audit-missing") || "";
  return header.split(/,\s*(?![^()]*\))/).map((part) => part.trim()).filter(Boolean).map((part) => {
    const [, machine = part, reason = ""] = /^(.*?) \((.*)\)$/.exec(part) || [];
    if (/^Redis\b/.test(reason)) return t("admin.missing.registry");
    if (/CHATSERVER_MACHINE_URL/.test(reason)) return t("admin.missing.no_url", { machine });
    if (/^did not answer$/.test(reason)) return t("admin.missing.no_answer", { machine });
    return t("admin.missing.other", { machine, reason });
  });
}

function showMissing(sentences) {
  const notice = $("#search-missing");
  notice.replaceChildren(...sentences.map((text) => el("p", {}, text)));
  notice.hidden = sentences.length === 0;
}

// ---- wiring ---------------------------------------------------------------------
$("#q-kind").append(...KINDS.map((kind) => el("option", { value: kind }, kind)));
$("#q-since").value = toLocalInput(new Date(Date.now() - 24 * 3600 * 1000));

$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("#admin-token").value.trim();
  if (!token) {
    $("#signin-error").textContent = t("admin.signin.missing");
    return;
  }
  $("#admin-token").value = "";
  $("#signin-error").textContent = "";
  signIn(token, { typed: true });
});
$("#sign-out").addEventListener("click", signOut);
$("#refresh").addEventListener("click", () => {
  refresh();
  scheduleRefresh();
});
$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  runSearch();
});
$("#show-transcript").addEventListener("click", showTranscript);
window.addEventListener("focus", refreshSoon);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshSoon();
});

// A new language: the tables are drawn again from what was last fetched (elements made with tEl follow).
window.addEventListener("cs:language", () => {
  makeFormats();
  if (state.token && !$("#view-admin").hidden) refresh();
});
mountPickers();

{
  const own = ss.get(TOKEN_KEY);
  const hostToken = ss.get("cs.host.token"); // signed in to the host console in this tab
  if (own) signIn(own);
  else if (hostToken) signIn(hostToken, { borrowed: true });
  else showSignin();
}
