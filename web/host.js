// The host console: held queue, reports, people and room switches for every room one hosts.
import {
  $, ChatSocket, el, flash, nameEl, newId, ss, tEl, textEl, timeEl,
} from "./common.js";
import { has, lang, locale, mountPickers, serverText, t, translate, translateAttr } from "./i18n.js";
import { nextWords, personTools, reasonPicker, rememberRoomModeration, renderCard, shieldControl } from "./person-card.js";
import { cardEl, fetchAbout } from "./library.js";

// Every word here comes from the console catalog (web/i18n/console/xx.json; docs/web-languages.md).
/** How long a message has waited, as [key, params] for `t` or `translate`. */
function waitedArgs(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return ["host.waited.seconds", { n: s }];
  const m = Math.floor(s / 60);
  if (m < 60) return ["host.waited.minutes", { n: m }];
  return ["host.waited.hours", { h: Math.floor(m / 60), m: m % 60 }];
}

const waitedText = (seconds) => t(...waitedArgs(seconds));

const FEED_KEEP = 40;

const state = {
  token: ss.get("cs.host.token"),
  name: ss.get("cs.host.name"),
  session: null,
  role: null,
  rooms: new Map(), // room id -> room record (rooms we host)
  order: [], // room ids in the order of /api/rooms
  probing: new Set(), // rooms joined only to learn whether we host them
  held: new Map(), // message id -> {frame, since (ms), el}
  reports: new Map(), // key -> {frame, el}
  notes: new Map(), // "room session" -> [note]
  actions: [], // sanctions waiting for their "done" notice
  discovered: false,
  onBreak: ss.get("cs.host.break", false), // the host chose "Take a break" (kept across reloads of this tab)
  dutyPending: false,
  sound: ss.get("cs.host.sound", false), // a short tone for urgent alerts in the background: off unless chosen
  current: null, // the held item the keyboard shortcuts act on
  modes: new Map(), // room id -> mode, from /api/rooms at sign-in
};

const toast = $("#toast");

const socket = new ChatSocket(() => {
  const hello = { name: state.name, token: state.token };
  const resume = ss.get("cs.host.resume");
  if (resume) hello.resume = resume;
  return hello;
});
socket.addEventListener("frame", (event) => handle(event.detail));
socket.addEventListener("state", renderConnection);

function renderConnection() {
  const bar = $("#conn");
  const s = socket.state;
  const text = s === "reconnecting" ? t("console.conn.reconnecting")
    : s === "connecting" ? t("console.conn.connecting")
      : state.degraded ? t("host.conn.degraded") : "";
  bar.textContent = text;
  bar.hidden = !text;
}

function handle(frame) {
  switch (frame.type) {
    case "welcome": return onWelcome(frame);
    case "joined": return onJoined(frame);
    case "held": return addHeld(frame, true);
    case "resolved": return onResolved(frame);
    case "escalated": return onEscalated(frame);
    case "report": return addReport(frame);
    case "note": return onNote(frame);
    case "message": return onMessage(frame);
    case "history": for (const m of frame.messages || []) onMessage(m, true); return;
    case "deleted": return onDeleted(frame);
    case "presence": return onPresence(frame);
    case "notice": return onNotice(frame);
    case "ack": return onAck(frame);
    case "error": return onError(frame);
    case "person": return onPersonCard(frame);
    case "strikes": return onStrikes(frame);
    case "card": return onCardShared(frame);
    default: return undefined;
  }
}

// ---- signing in ------------------------------------------------------------
function showSignin(error = "") {
  $("#view-signin").hidden = false;
  $("#view-console").hidden = true;
  $("#sign-out").hidden = true;
  $("#who").hidden = true;
  $("#host-name").value = state.name || "";
  $("#signin-error").textContent = error;
  (state.name ? $("#host-token") : $("#host-name")).focus();
}

function showConsole() {
  $("#view-signin").hidden = true;
  $("#view-console").hidden = false;
  $("#sign-out").hidden = false;
  const who = $("#who");
  if (state.role === "admin") {
    translate(who, "host.who_admin", { name: nameEl(state.name), link: tEl("a", { href: "/admin.html" }, "host.admin_link") });
  } else {
    translate(who, "host.who", { name: nameEl(state.name) });
  }
  who.hidden = false;
}

function signOut() {
  socket.stop();
  for (const key of ["cs.host.token", "cs.host.resume", "cs.host.break"]) ss.remove(key);
  state.token = null;
  state.onBreak = false;
  resetAll();
  showSignin();
}

function resetAll() {
  state.rooms.clear();
  state.held.clear();
  state.reports.clear();
  state.notes.clear();
  state.probing.clear();
  state.discovered = false;
  $("#queue").replaceChildren();
  $("#reports").replaceChildren();
  $("#room-cards").replaceChildren();
  $("#alerts").replaceChildren();
  renderCounts();
}

function onWelcome(w) {
  state.session = w.session;
  state.role = w.role;
  ss.set("cs.host.resume", w.resume_token);
  if (w.role !== "host" && w.role !== "admin") {
    socket.stop();
    ss.remove("cs.host.token");
    ss.remove("cs.host.resume");
    state.token = null;
    showSignin(t("host.signin.unrecognised"));
    return;
  }
  showConsole();
  // A new connection starts on duty: a host who chose a break stays on it (before any join counts them).
  state.onBreak = ss.get("cs.host.break", false);
  if (state.onBreak) socket.send({ type: "duty", on: false });
  renderDuty();
  learnModes();
  if (state.discovered && !state.probing.size) {
    for (const id of state.rooms.keys()) socket.send({ type: "join", room: id, accept_guidelines: true });
    return;
  }
  state.probing.clear();
  discoverRooms(w.rooms);
}

async function discoverRooms(announced) {
  // Which rooms are ours? `joined.role` says so; a room we do not host is left straight away.
  let ids = Array.isArray(announced) ? announced.map((r) => (typeof r === "string" ? r : r.id)) : null;
  if (!ids) {
    try {
      const response = await fetch("/api/rooms", { cache: "no-store" });
      const rooms = await response.json();
      ids = rooms.map((r) => r.id);
    } catch {
      flash(toast, t("host.rooms.load_failed"));
      setTimeout(() => discoverRooms(announced), 3000);
      return;
    }
  }
  state.order = ids;
  state.discovered = true;
  for (const id of ids) {
    state.probing.add(id);
    socket.send({ type: "join", room: id, accept_guidelines: true });
  }
  if (!ids.length) translate($("#rooms-loading"), "host.rooms.none");
}

/** Each room's mode now (open, premoderate, read_only, closed): `mode` notices keep it current after. */
async function learnModes() {
  try {
    const response = await fetch("/api/rooms", { cache: "no-store" });
    for (const r of await response.json()) {
      state.modes.set(r.id, r.mode || "open");
      const room = state.rooms.get(r.id);
      if (room && !room.modeHeard) {
        room.mode = r.mode || "open";
        updateRoom(room);
      }
    }
  } catch {
    /* the cards say what presence tells them; notices bring the mode when it changes */
  }
}

// ---- rooms -----------------------------------------------------------------
function onJoined(j) {
  const probing = state.probing.delete(j.room);
  if (j.role !== "host") {
    socket.send({ type: "leave", room: j.room });
    const gone = state.rooms.get(j.room); // no longer ours (rooms.yaml reloaded)
    if (gone) {
      gone.card.remove();
      state.rooms.delete(j.room);
    }
    finishProbe();
    return;
  }
  let room = state.rooms.get(j.room);
  if (!room) {
    room = newRoom(j.room);
    state.rooms.set(j.room, room);
    placeRoomCard(room);
    loadLibrary(room);
  }
  Object.assign(room, { title: j.title || j.room, members: j.members, slowmode: j.slowmode || 0, locked: Boolean(j.locked) });
  if ("hosts" in j) room.hosts = Number(j.hosts) || 0;
  rememberRoomModeration(room, j);
  room.ui.shield.update();
  if (!room.modeHeard && state.modes.has(j.room)) room.mode = state.modes.get(j.room);
  if (j.snippets && typeof j.snippets === "object") {
    room.snippets = j.snippets;
    room.opening = j.opening || null;
    room.closing = j.closing || null;
    renderSnippets(room);
  }
  for (const m of j.history || []) onMessage(m, true);
  // The queue we get on (re)join is the whole truth for that room.
  for (const [id, item] of [...state.held]) {
    if (item.frame.room === j.room) removeHeld(id);
  }
  for (const h of j.held || []) addHeld(h, false);
  updateRoom(room);
  if (probing) finishProbe();
}

function finishProbe() {
  if (state.probing.size) return;
  $("#rooms-loading").hidden = state.rooms.size > 0;
  if (!state.rooms.size) translate($("#rooms-loading"), "host.rooms.not_host");
}

/** Slow mode's choices: [seconds, key, params]. */
const SLOW_CHOICES = [
  [0, "host.slow.off", {}], [5, "host.slow.seconds", { n: 5 }], [10, "host.slow.seconds", { n: 10 }],
  [30, "host.slow.seconds", { n: 30 }], [60, "host.slow.one_minute", {}], [300, "host.slow.minutes", { n: 5 }],
];

// A room card is built once and then updated in place, so an open panel or a
// half-written note survives every message that arrives in the room.
function newRoom(id) {
  const room = {
    id, title: id, members: 0, slowmode: 0, locked: false,
    hosts: null, mode: "open", snippets: {}, opening: null, closing: null,
    people: new Map(), // session -> person (someone whose session we have seen)
    present: new Map(), // name -> <li> for people seen only in presence so far
    feed: new Map(), // message id -> <li>
  };
  const titleId = `room-${id}-title`;
  const slowId = `slow-${id}`;
  const slow = el("select", { id: slowId }, ...SLOW_CHOICES.map(([v, key, params]) => tEl("option", { value: String(v) }, key, params)));
  slow.addEventListener("change", () => socket.send({ type: "slowmode", room: id, seconds: Number(slow.value) }));
  const lock = tEl("button", { type: "button", "aria-pressed": "false" }, "host.room.lock");
  lock.addEventListener("click", () => socket.send({ type: "lock", room: id, locked: !room.locked }));
  const lockHint = tEl("span", { class: "hint", hidden: true }, "host.room.locked_hint");
  const postId = `post-${id}`;
  const postInput = el("textarea", { id: postId, rows: "3", maxlength: "2000", "aria-describedby": `${postId}-hint` });
  const snippets = translateAttr(el("div", { class: "snippets", role: "group" }), "aria-label", "host.room.snippets");
  const post = el("form", { class: "inline-form post-form" },
    tEl("label", { for: postId }, "host.room.post_label"),
    snippets, postInput,
    el("div", { class: "actions" },
      tEl("button", { type: "submit", class: "primary" }, "host.room.post"),
      tEl("span", { id: `${postId}-hint`, class: "hint" }, "host.room.post_hint")));
  post.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = postInput.value.trim();
    if (text && socket.send({ type: "send", room: id, text, client_id: "h" + newId() })) {
      postInput.value = "";
      fitBox(postInput);
    }
  });
  postInput.addEventListener("input", () => fitBox(postInput));
  postInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      post.requestSubmit();
    }
  });
  room.ui = {
    title: el("span", {}, id),
    count: el("span", { class: "count" }),
    cover: el("p", { class: "room-cover" }),
    snippets, postInput,
    slow, lock, lockHint,
    peopleCount: el("span", {}, "0"),
    peopleList: el("ul", { class: "people" }),
    peopleEmpty: tEl("p", { class: "empty" }, "host.people.empty"),
    feedList: translateAttr(el("ol", { class: "feed" }), "aria-label", "host.feed.label", { room: id }),
    feedEmpty: tEl("p", { class: "empty" }, "host.feed.empty"),
    libraryList: el("div", { class: "lib-list" }),
  };
  const ui = room.ui;
  ui.shield = shieldControl(room, (frame) => socket.send(frame));
  room.card = el("section", { class: "room-card", "aria-labelledby": titleId, dataset: { room: id } },
    el("h3", { id: titleId }, ui.title, " ", ui.count),
    ui.cover,
    el("div", { class: "switches" },
      el("div", { class: "field" }, tEl("label", { for: slowId }, "host.room.slow"), slow),
      lock, lockHint, ui.shield.node),
    post,
    ui.library = el("details", { class: "library-box", hidden: true },
      tEl("summary", {}, "host.library.summary"), ui.libraryList),
    el("details", { class: "people-box", open: true },
      tEl("summary", {}, "host.people.summary", { count: ui.peopleCount }), ui.peopleEmpty, ui.peopleList),
    el("details", { class: "feed-box" },
      tEl("summary", {}, "host.feed.summary"), ui.feedEmpty, ui.feedList));
  return room;
}

/** The room's library cards, each with "Share in room": one click sends it to everyone as a card. */
async function loadLibrary(room) {
  const about = await fetchAbout(room.id);
  if (!about) return;
  room.ui.libraryList.replaceChildren(...about.cards.map((card) => {
    const done = el("span", { class: "hint", role: "status" });
    const share = tEl("button", {
      type: "button", class: "lib-push", dataset: { push: String(card.id) },
      onclick: () => {
        if (socket.send({ type: "push_card", room: room.id, card: card.id })) done.textContent = t("host.library.sharing");
      },
    }, "host.library.share");
    translateAttr(share, "aria-label", "host.library.share_label", { title: String(card.title ?? "") });
    return cardEl(card, { heading: "h4", extra: el("div", { class: "actions" }, share, done) });
  }));
  room.ui.library.hidden = about.cards.length === 0;
}

// A card reached the room (ours or another host's): say so beside it.
function onCardShared(f) {
  const room = state.rooms.get(f.room);
  const status = room?.ui.libraryList.querySelector(`[data-push="${CSS.escape(String(f.card?.id ?? ""))}"] + .hint`);
  const time = new Date(f.ts).toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  if (status) status.textContent = t("host.library.shared", { name: f.from?.name ?? t("msg.a_host"), time });
}

function placeRoomCard(room) {
  const cards = $("#room-cards");
  const index = state.order.indexOf(room.id);
  const after = [...cards.children].find((c) => state.order.indexOf(c.dataset.room) > index);
  cards.insertBefore(room.card, after || null);
}

function roomTitle(id) {
  return state.rooms.get(id)?.title || id;
}

function updateRoom(room) {
  const ui = room.ui;
  ui.title.textContent = room.title;
  translateAttr(ui.feedList, "aria-label", "host.feed.label", { room: room.title });
  ui.count.textContent = t("host.room.count", { members: room.members, waiting: heldCount(room.id) });
  const cover = coverText(room);
  ui.cover.className = ("room-cover " + cover.kind).trim();
  ui.cover.replaceChildren(el("span", { class: "dot", "aria-hidden": "true" }), cover.text);
  ui.cover.hidden = !cover.text;
  const value = String(Number(room.slowmode) || 0);
  if (![...ui.slow.options].some((o) => o.value === value)) ui.slow.append(tEl("option", { value }, "host.slow.seconds", { n: value }));
  ui.slow.value = value;
  ui.lock.setAttribute("aria-pressed", String(room.locked));
  ui.lockHint.hidden = !room.locked;
  const n = ui.peopleList.children.length;
  ui.peopleCount.textContent = String(n);
  ui.peopleEmpty.hidden = n > 0;
  ui.feedEmpty.hidden = ui.feedList.children.length > 0;
}

/** A room's mode in a few words ("every participant message waits for a host"); unknown: its name. */
const modeWords = (mode) => (has(`host.mode.${mode}`) ? t(`host.mode.${mode}`) : String(mode));

/** Who is looking after the room, as its participants see it. */
function coverText(room) {
  const n = room.hosts;
  const hosts = n === null ? "" : n === 0 ? t("host.cover.none") : n === 1 ? t("host.cover.one") : t("host.cover.many", { count: n });
  if (room.mode && room.mode !== "open") {
    const mode = modeWords(room.mode);
    return { kind: room.mode === "closed" ? "closed" : "unhosted", text: hosts ? t("host.cover.with_mode", { hosts, mode }) : mode };
  }
  return { kind: n === 0 ? "unhosted" : n ? "hosted" : "", text: hosts };
}

const humanName = (name) => {
  const words = String(name).replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** The room's snippets as buttons: one click puts the text in the post box, to edit before posting. */
function renderSnippets(room) {
  const names = Object.keys(room.snippets || {});
  const rank = (name) => (name === room.opening ? 0 : name === room.closing ? 2 : 1);
  names.sort((a, b) => rank(a) - rank(b));
  room.ui.snippets.replaceChildren(...names.map((name) => {
    // The session's scripts are marked as such: "Opening script", or "Opening script: Welcome".
    const script = name === room.opening ? t("host.snippet.opening") : name === room.closing ? t("host.snippet.closing") : "";
    const own = humanName(name);
    const label = !script ? own : script.startsWith(own + " ") ? script : t("host.snippet.named", { script, name: own });
    return el("button", {
      type: "button", class: "snippet" + (script ? " script" : ""), dataset: { snippet: name },
      onclick: () => useSnippet(room, name),
    }, label);
  }));
  room.ui.snippets.hidden = names.length === 0;
}

function useSnippet(room, name) {
  const box = room.ui.postInput;
  const text = String(room.snippets[name] ?? "");
  if (!box.value.trim()) {
    box.value = text;
  } else {
    // Keep what the host has written: the snippet goes in where the cursor is.
    const start = box.selectionStart ?? box.value.length;
    const end = box.selectionEnd ?? start;
    const before = box.value.slice(0, start);
    const glue = before && !/\s$/.test(before) ? " " : "";
    box.setRangeText(glue + text, start, end, "end");
  }
  fitBox(box);
  box.focus({ preventScroll: true });
  box.scrollTop = 0;
}

/** A box as tall as its text (within the stylesheet's max-height), so a whole snippet can be read. */
function fitBox(box) {
  box.style.height = "auto"; // CSSOM, not an inline style attribute: the CSP allows it
  box.style.height = `${box.scrollHeight + 2}px`;
}

/** The words a newcomer is welcomed with: the room's "welcome" snippet, else a plain default. */
function welcomeText(room) {
  const snippets = room.snippets || {};
  if (snippets.welcome) return String(snippets.welcome);
  const other = Object.keys(snippets).find((n) => n !== room.opening && n !== room.closing && /welcome|hello|greet/i.test(n));
  return other ? String(snippets[other])
    : t("host.greet.default");
}

/** The person behind `from` in `room`, created (with a row in the people list) when first seen. */
function touchPerson(room, from, earlier = false) {
  if (!room || !from?.session || from.session === state.session) return null;
  let p = room.people.get(from.session);
  if (!p) {
    // Known only from history (`earlier`): they may have gone since; the protocol has no member list yet.
    p = { name: from.name, role: from.role, left: false, muted: false, banned: false, earlier };
    room.people.set(from.session, p);
    p.li = personEl(room, from.session, p);
    room.ui.peopleList.append(p.li);
    const only = room.present.get(from.name);
    if (only) {
      only.remove();
      room.present.delete(from.name);
    }
  }
  p.name = from.name || p.name;
  p.role = from.role || p.role;
  if (!earlier) p.earlier = false;
  renderPerson(room, from.session);
  updateRoom(room);
  return p;
}

function renderPerson(room, session) {
  const p = room.people.get(session);
  if (!p) return;
  const chips = [];
  if (p.role === "host" || p.role === "admin") chips.push(tEl("span", { class: "badge" }, "host.chip.host"));
  if (p.muted) chips.push(tEl("span", { class: "badge warn" }, "host.chip.muted"));
  if (p.banned) chips.push(tEl("span", { class: "badge urgent" }, "host.chip.banned"));
  if (p.flagged) chips.push(tEl("span", { class: "badge warn" }, "host.chip.flagged"));
  if (p.left) chips.push(tEl("span", { class: "hint" }, "host.chip.left"));
  if (p.greeted) chips.push(tEl("span", { class: "hint" }, "host.chip.greeted"));
  const notes = state.notes.get(`${room.id} ${session}`) || [];
  if (notes.length) chips.push(tEl("span", { class: "badge" }, notes.length > 1 ? "host.chip.notes" : "host.chip.note", { count: notes.length }));
  p.ui.name.textContent = p.name;
  p.ui.chips.replaceChildren(...chips);
  if (p.ui.unban) p.ui.unban.hidden = !p.banned;
}

function personEl(room, session, p) {
  const panelId = `p-${room.id}-${session}`;
  p.ui = { name: nameEl(p.name), chips: el("span", { class: "chips" }) };
  const row = el("div", { class: "person-row" }, p.ui.name, p.ui.chips);
  const li = el("li", { class: "person" }, row);
  if (p.role === "host" || p.role === "admin") return li;
  const toggle = tEl("button", { type: "button", "aria-expanded": "false", "aria-controls": panelId }, "host.person.actions");
  translateAttr(toggle, "aria-label", "host.person.actions_for", { name: p.name });
  const greet = tEl("button", { type: "button", class: "greet" }, "host.person.greet");
  translateAttr(greet, "aria-label", "host.person.greet_label", { name: p.name });
  greet.addEventListener("click", () => openGreet(room, session, p, li, greet));
  row.append(greet, toggle);
  const panel = el("div", { id: panelId, class: "person-panel", hidden: true });
  toggle.addEventListener("click", () => {
    const open = panel.hidden;
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open && !panel.childElementCount) fillPersonPanel(panel, room, session, p);
  });
  li.append(panel);
  return li;
}

/** A private word to one person, pre-filled with the room's welcome and editable; only they see it. */
function openGreet(room, session, person, li, button) {
  const open = li.querySelector(".greet-form");
  if (open) {
    open.querySelector("textarea").focus();
    return;
  }
  const boxId = `greet-${room.id}-${session}`;
  const box = el("textarea", { id: boxId, rows: "3", maxlength: "2000" });
  box.value = welcomeText(room);
  const close = () => {
    form.remove();
    button.focus();
  };
  const form = el("form", { class: "inline-form greet-form" },
    tEl("label", { for: boxId }, "host.greet.label", { name: nameEl(person.name) }),
    box,
    el("div", { class: "actions" },
      tEl("button", { type: "submit", class: "primary" }, "host.greet.send"),
      tEl("button", { type: "button", onclick: close }, "action.cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) return;
    if (socket.send({ type: "greet", room: room.id, session, text })) {
      person.greeted = true;
      renderPerson(room, session);
      close();
    } else {
      flash(toast, t("host.not_connected"));
    }
  });
  li.querySelector(".person-row").after(form);
  box.addEventListener("input", () => fitBox(box));
  fitBox(box);
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

function fillPersonPanel(panel, room, session, person) {
  const muteId = `mute-${room.id}-${session}`;
  const minutes = el("select", { id: muteId },
    ...[[5, "host.mute.minutes", { n: 5 }], [15, "host.mute.minutes", { n: 15 }], [60, "host.mute.hour", {}], [1440, "host.mute.day", {}]]
      .map(([v, key, params]) => tEl("option", { value: String(v), selected: v === 15 }, key, params)));
  const act = (frame, sanction) => {
    if (socket.send({ ...frame, room: room.id, session })) {
      if (sanction) state.actions.push({ room: room.id, session, ...sanction });
    } else {
      flash(toast, t("host.not_connected"));
    }
  };
  const confirmWith = (labelKey, frameType, sanction) => {
    const reasonId = `why-${frameType}-${room.id}-${session}`;
    const reason = el("input", { id: reasonId, type: "text", maxlength: "500", autocomplete: "off" });
    const form = el("form", { class: "inline-form confirm" },
      tEl("label", { for: reasonId }, "host.person.reason"), reason,
      el("div", { class: "actions" },
        tEl("button", { type: "submit", class: "danger" }, labelKey),
        tEl("button", { type: "button", onclick: () => form.remove() }, "action.cancel")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const frame = { type: frameType };
      if (reason.value.trim()) frame.reason = reason.value.trim();
      act(frame, sanction);
      form.remove();
    });
    panel.querySelector(".confirm")?.remove();
    panel.querySelector(".notes").before(form);
    reason.focus();
  };
  const noteId = `note-${room.id}-${session}`;
  const note = el("textarea", { id: noteId, rows: "2", maxlength: "1000" });
  const noteForm = el("form", { class: "inline-form" },
    tEl("label", { for: noteId }, "host.note.label"), note,
    el("div", { class: "actions" }, tEl("button", { type: "submit" }, "host.note.save")));
  noteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = note.value.trim();
    if (text && socket.send({ type: "note", room: room.id, session, text })) note.value = "";
  });
  person.ui.unban = tEl("button", { type: "button", hidden: !person.banned, onclick: () => act({ type: "unban" }, { banned: false }) }, "host.person.unban");
  panel.append(
    el("div", { class: "switches" },
      el("div", { class: "field" }, tEl("label", { for: muteId }, "host.person.mute_for"), minutes),
      tEl("button", { type: "button", onclick: () => act({ type: "mute", minutes: Number(minutes.value) }, { muted: true }) }, "host.person.mute"),
      tEl("button", { type: "button", onclick: () => act({ type: "unmute" }, { muted: false }) }, "host.person.unmute")),
    el("div", { class: "actions" },
      tEl("button", { type: "button", class: "danger", onclick: () => confirmWith("host.person.remove_confirm", "kick", { left: true }) }, "host.person.remove"),
      tEl("button", { type: "button", class: "danger", onclick: () => confirmWith("host.person.ban_confirm", "ban", { banned: true, left: true }) }, "host.person.ban"),
      person.ui.unban),
    notesEl(room.id, session),
    noteForm);
  const tools = personTools(room, session, person, (frame) => act({ ...frame }));
  person.ui.card = tools.card;
  person.ui.act = (next) => {
    if (next.action === "mute") act({ type: "mute", minutes: Number(next.minutes) }, { muted: true });
    else if (next.action === "ban") confirmWith("host.person.ban_confirm", "ban", { banned: true, left: true });
    else if (next.action === "kick") confirmWith("host.person.remove_confirm", "kick", { left: true });
    else panel.querySelector(".warn-form select")?.focus();
  };
  panel.append(tools.node);
}

// ---- proportionate moderation (issue 16): the person card and the ladder's proposals ----------
function onPersonCard(c) {
  const p = state.rooms.get(c.room)?.people.get(c.session);
  if (p?.ui?.card) {
    p.lastCard = c; // drawn again on a change of language
    renderCard(p.ui.card, c, p.ui.act);
  }
}

function onStrikes(s) {
  const room = state.rooms.get(s.room);
  const p = room?.people.get(s.session);
  if (p?.ui?.card && !p.ui.card.hidden) socket.send({ type: "person", room: s.room, session: s.session });
  const params = { name: p?.name || t("host.someone_cap"), count: s.strikes, next: nextWords(s.next || {}) };
  flash(toast, t(s.strikes === 1 ? "host.strikes.one" : "host.strikes.many", params));
}

function notesEl(roomId, session, extra = []) {
  const notes = [...(state.notes.get(`${roomId} ${session}`) || [])];
  for (const n of extra || []) {
    if (!notes.some((m) => m.text === n.text && m.ts === n.ts)) notes.push(n);
  }
  return el("div", { class: "notes", dataset: { notes: `${roomId} ${session}` }, hidden: notes.length === 0 },
    tEl("h4", {}, "host.notes.title"),
    el("ul", {}, ...notes.map((n) => el("li", {}, textEl(n.text, "span"), el("span", { class: "hint" }, " — ", nameEl(n.by || t("msg.a_host")))))));
}

function rememberNotes(roomId, session, notes) {
  if (!session || !Array.isArray(notes)) return;
  const key = `${roomId} ${session}`;
  const have = state.notes.get(key) || [];
  for (const n of notes) if (!have.some((m) => m.text === n.text && m.ts === n.ts)) have.push(n);
  state.notes.set(key, have);
}

function refreshNotes(roomId, session) {
  const key = `${roomId} ${session}`;
  for (const box of document.querySelectorAll(".notes")) {
    if (box.dataset.notes === key) box.replaceWith(notesEl(roomId, session));
  }
}

function feedItem(room, m) {
  const name = m.from?.name ?? t("host.someone");
  const remove = tEl("button", {
    type: "button", class: "danger", onclick: () => socket.send({ type: "delete", room: room.id, message_id: m.id }),
  }, "host.feed.delete");
  return el("li", { dataset: { id: m.id } },
    nameEl(name), ":", textEl(m.cw ? t("host.feed.cw", { cw: m.cw, text: m.text }) : m.text),
    translateAttr(remove, "aria-label", "host.feed.delete_label", { name }));
}

function onMessage(m, replay = false) {
  const room = state.rooms.get(m.room);
  if (!room || !m.id || room.feed.has(m.id)) return;
  const p = touchPerson(room, m.from, replay);
  if (p && p.left) {
    p.left = false;
    renderPerson(room, m.from.session);
  }
  const li = feedItem(room, m);
  room.feed.set(m.id, li);
  room.ui.feedList.append(li);
  while (room.feed.size > FEED_KEEP) {
    const [oldest, node] = room.feed.entries().next().value;
    node.remove();
    room.feed.delete(oldest);
  }
  updateRoom(room);
}

function onDeleted(d) {
  const room = state.rooms.get(d.room);
  if (!room) return;
  room.feed.get(d.id)?.remove();
  room.feed.delete(d.id);
  updateRoom(room);
  for (const { frame, el: node } of state.reports.values()) {
    if (frame.message_id === d.id) {
      node.querySelector(".report-state")?.replaceChildren(tEl("span", {}, "host.report.deleted"));
    }
  }
}

function onPresence(p) {
  const room = state.rooms.get(p.room);
  if (!room) return;
  room.members = p.members;
  if ("hosts" in p) room.hosts = Number(p.hosts) || 0;
  if (p.joined && p.session && p.joined !== state.name) {
    // With the newcomer's session the console can greet them before they write anything.
    touchPerson(room, { name: p.joined, session: p.session, role: "participant" });
  }
  if (p.joined && p.joined !== state.name && !room.present.has(p.joined)
      && ![...room.people.values()].some((x) => x.name === p.joined && !x.left)) {
    const li = el("li", { class: "person" },
      el("div", { class: "person-row" }, nameEl(p.joined), tEl("span", { class: "hint" }, "host.people.not_written")));
    room.present.set(p.joined, li);
    room.ui.peopleList.append(li);
  }
  if (p.joined) {
    for (const [session, x] of room.people) {
      if (x.name === p.joined && (x.left || x.earlier)) {
        x.left = false;
        x.earlier = false;
        renderPerson(room, session);
      }
    }
  }
  if (p.left) {
    room.present.get(p.left)?.remove();
    room.present.delete(p.left);
    for (const [session, x] of room.people) {
      if (x.name === p.left) {
        x.left = true;
        renderPerson(room, session);
      }
    }
  }
  updateRoom(room);
}

// ---- held queue --------------------------------------------------------------
function heldCount(roomId) {
  let n = 0;
  for (const item of state.held.values()) if (item.frame.room === roomId) n += 1;
  return n;
}

/** Why a message is held, in a few words; a reason the catalogs do not know shows as it is. */
const reasonEl = (reason) => (has(`host.reason.${reason}`) ? tEl("strong", {}, `host.reason.${reason}`) : el("strong", {}, String(reason)));

/**
 * A filter's own explanation ("contains a word on this room's blocklist"): the server's English, so
 * shown beside the reason in English, or where the catalogs have no words for the reason.
 */
function explainEl(text, known) {
  return el("span", { class: "explain", dataset: { known: known ? "1" : "" }, hidden: known && lang() !== "en" }, ": ", String(text));
}

function addHeld(h, live) {
  if (!h.id) return;
  const room = state.rooms.get(h.room);
  touchPerson(room, h.from);
  rememberNotes(h.room, h.from?.session, h.notes);
  const existing = state.held.get(h.id);
  const node = heldEl(h);
  if (existing) existing.el.replaceWith(node);
  state.held.set(h.id, { frame: h, since: performance.now() - (Number(h.waited_s) || 0) * 1000, el: node });
  sortQueue();
  renderCounts();
  if (room) updateRoom(room);
  if (live && h.urgent) {
    addAlert(t("host.alert.urgent", { room: roomTitle(h.room) }), "urgent", h.id);
    callHost(t("host.notify.urgent"), t("host.notify.in_room", { room: roomTitle(h.room) }), `held-${h.id}`, h.id);
  }
}

function heldEl(h) {
  const textId = "h" + newId();
  const text = textEl(h.text, "div", "held-text blurred");
  text.id = textId;
  text.setAttribute("aria-hidden", "true");
  const srNote = tEl("p", { class: "sr-only" }, "host.held.hidden_note");
  const reveal = tEl("button", { type: "button", class: "reveal", "aria-expanded": "false", "aria-controls": textId }, "host.held.read");
  reveal.addEventListener("click", () => {
    const show = text.classList.contains("blurred");
    text.classList.toggle("blurred", !show);
    if (show) text.removeAttribute("aria-hidden");
    else text.setAttribute("aria-hidden", "true");
    srNote.hidden = show;
    reveal.setAttribute("aria-expanded", String(show));
    translate(reveal, show ? "host.held.blur" : "host.held.read");
  });
  const reasons = Array.isArray(h.reasons) ? h.reasons : [];
  const explanations = Array.isArray(h.explanations) ? h.explanations : [];
  const release = tEl("button", { type: "button", class: "primary release" }, "host.held.release");
  release.addEventListener("click", () => {
    if (socket.send({ type: "release", room: h.room, message_id: h.id })) {
      release.disabled = true;
      translate(release, "host.held.releasing");
    }
  });
  const rejectToggle = tEl("button", { type: "button", class: "reject", "aria-expanded": "false" }, "host.held.reject_open");
  const noteId = "n" + newId();
  const noteBox = el("textarea", { id: noteId, rows: "2", maxlength: "1000" });
  const pick = reasonPicker(state.rooms.get(h.room));
  const rejectForm = el("form", { class: "inline-form", hidden: true }, pick.field,
    tEl("label", { for: noteId }, "host.held.note_label"), noteBox,
    el("div", { class: "actions" },
      tEl("button", { type: "submit", class: "danger" }, "host.held.reject"),
      tEl("button", { type: "button", onclick: () => toggleReject(false) }, "action.cancel")));
  rejectToggle.setAttribute("aria-controls", rejectForm.id = "f" + newId());
  function toggleReject(open) {
    rejectForm.hidden = !open;
    rejectToggle.setAttribute("aria-expanded", String(open));
    if (open) noteBox.focus();
  }
  rejectToggle.addEventListener("click", () => toggleReject(rejectForm.hidden));
  rejectForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const frame = { type: "reject", room: h.room, message_id: h.id };
    if (noteBox.value.trim()) frame.note = noteBox.value.trim();
    else if (pick.value()) frame.reason = pick.value();
    socket.send(frame);
  });
  const heading = el("div", { class: "item-head" },
    h.risk === "imminent" ? tEl("span", { class: "badge urgent" }, "host.held.imminent")
      : h.urgent ? tEl("span", { class: "badge urgent" }, "host.held.urgent") : null,
    el("span", { class: "badge" }, roomTitle(h.room)),
    nameEl(h.from?.name ?? t("host.someone")),
    tEl("span", { class: "meta waited" }, ...waitedArgs(Number(h.waited_s) || 0)),
    h.cw ? tEl("span", { class: "badge warn" }, "host.held.cw", { cw: el("bdi", {}, String(h.cw)) }) : null);
  const article = el("article", {},
      heading,
      reasons.length ? el("ul", { class: "reasons" }, ...reasons.map((r, i) => el("li", {},
        reasonEl(r), explanations[i] ? explainEl(explanations[i], has(`host.reason.${r}`)) : ""))) : null,
      text, srNote,
      notesEl(h.room, h.from?.session, h.notes),
      el("div", { class: "actions" }, reveal, release, rejectToggle),
      rejectForm);
  translateAttr(article, "aria-label", h.urgent ? "host.held.label_urgent" : "host.held.label", { name: h.from?.name ?? t("host.someone") });
  return el("li", { class: "item held" + (h.urgent ? " urgent" : ""), dataset: { id: h.id } }, article);
}

function sortQueue() {
  const items = [...state.held.values()].sort((a, b) =>
    (Number(Boolean(b.frame.urgent)) - Number(Boolean(a.frame.urgent))) || (a.since - b.since));
  const queue = $("#queue");
  items.forEach((item, i) => {
    if (queue.children[i] !== item.el) queue.insertBefore(item.el, queue.children[i] || null);
  });
}

function removeHeld(id) {
  const item = state.held.get(id);
  if (!item) return null;
  let next = null;
  if (state.current === id) {
    // The keyboard moves on to the item that takes its place, so j/k/r/a/x keep working.
    next = item.el.nextElementSibling || item.el.previousElementSibling;
  }
  const hadFocus = item.el.contains(document.activeElement);
  item.el.remove();
  state.held.delete(id);
  if (state.current === id) {
    state.current = null;
    if (next) selectHeld(next.dataset.id, hadFocus);
  }
  renderCounts();
  return item;
}

function onResolved(r) {
  const item = removeHeld(r.id);
  const room = state.rooms.get(r.room);
  if (room) updateRoom(room);
  for (const alert of document.querySelectorAll(`#alerts [data-id]`)) {
    if (alert.dataset.id === r.id) alert.remove();
  }
  if (item) flash(toast, t(r.action === "released" ? "host.resolved.released" : "host.resolved.rejected", { name: r.by }));
}

function onEscalated(e) {
  const item = state.held.get(e.id);
  if (item) {
    const head = item.el.querySelector(".item-head");
    if (!head.querySelector(".escalated")) head.append(tEl("span", { class: "badge urgent escalated" }, "host.held.too_long"));
  }
  const params = { room: roomTitle(e.room), waited: waitedText(e.waited_s) };
  addAlert(t("host.alert.escalated", params), "", e.id);
  callHost(t("host.notify.escalated"), t("host.notify.in_room_waited", params), `esc-${e.id}`, e.id);
}

function addAlert(text, kind, id) {
  const alerts = $("#alerts");
  const node = el("div", { class: "alert" + (kind ? " " + kind : ""), dataset: { id: id || "" } },
    el("p", {}, text),
    el("div", { class: "actions" },
      id && state.held.has(id) ? el("button", {
        type: "button", onclick: () => {
          const target = state.held.get(id)?.el.querySelector("button");
          target?.focus();
          target?.scrollIntoView({ block: "center" });
        },
      }, t("host.alert.show")) : null,
      el("button", { type: "button", onclick: () => node.remove() }, t("host.alert.dismiss"))));
  alerts.prepend(node);
  while (alerts.children.length > 6) alerts.lastChild.remove();
}

// Someone may be in immediate danger: shown apart from every other alert, with what to do first,
// until a host says they have reached out.
function addDanger(n) {
  const list = $("#danger-list");
  const at = new Date().toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
  const item = el("li", { class: "danger-item" },
    el("p", {}, serverText(n, t("host.danger.title")), " ", el("span", { class: "hint" }, at)));
  const actions = el("div", { class: "actions" });
  if (n.message_id && state.held.has(n.message_id)) {
    actions.append(el("button", { type: "button", onclick: () => {
      const target = state.held.get(n.message_id)?.el.querySelector("button");
      target?.focus();
      target?.scrollIntoView({ block: "center" });
    } }, t("host.danger.show")));
  }
  actions.append(el("button", { type: "button", class: "primary", onclick: () => {
    item.remove();
    $("#danger").hidden = list.children.length === 0;
  } }, t("host.danger.reached")));
  item.append(actions);
  list.prepend(item);
  $("#danger").hidden = false;
  $("#danger-title").focus();
}

function renderCounts() {
  const n = state.held.size;
  $("#queue-count").textContent = String(n);
  $("#queue-empty").hidden = n > 0;
  $("#reports-count").textContent = String(state.reports.size);
  $("#reports-empty").hidden = state.reports.size > 0;
  document.title = n ? t("host.page_title_count", { count: n }) : t("host.page_title");
}

setInterval(() => {
  for (const item of state.held.values()) {
    const waited = item.el.querySelector(".waited");
    if (waited) translate(waited, ...waitedArgs((performance.now() - item.since) / 1000));
  }
}, 10000);

// ---- reports -------------------------------------------------------------------
function addReport(r) {
  const key = `${r.message_id} ${r.by?.session ?? ""}`;
  if (state.reports.has(key)) return;
  const room = state.rooms.get(r.room);
  touchPerson(room, r.from);
  rememberNotes(r.room, r.from?.session, r.notes);
  const textId = "r" + newId();
  const body = [];
  if (r.from) {
    const text = textEl(r.from.text, "div", "held-text blurred");
    text.id = textId;
    text.setAttribute("aria-hidden", "true");
    const reveal = tEl("button", { type: "button", "aria-expanded": "false", "aria-controls": textId }, "host.held.read");
    reveal.addEventListener("click", () => {
      const show = text.classList.contains("blurred");
      text.classList.toggle("blurred", !show);
      if (show) text.removeAttribute("aria-hidden");
      else text.setAttribute("aria-hidden", "true");
      reveal.setAttribute("aria-expanded", String(show));
      translate(reveal, show ? "host.held.blur" : "host.held.read");
    });
    body.push(tEl("p", { class: "meta" }, "host.report.from", { name: nameEl(r.from.name) }), text,
      notesEl(r.room, r.from.session, r.notes),
      el("div", { class: "actions" }, reveal,
        tEl("button", { type: "button", class: "danger", onclick: () => socket.send({ type: "delete", room: r.room, message_id: r.message_id }) }, "host.report.delete"),
        r.from.session ? tEl("button", {
          type: "button", onclick: () => {
            if (socket.send({ type: "mute", room: r.room, session: r.from.session, minutes: 15 })) {
              state.actions.push({ room: r.room, session: r.from.session, muted: true });
            }
          },
        }, "host.report.mute") : null,
        tEl("button", { type: "button", onclick: () => dismissReport(key) }, "host.alert.dismiss")));
  } else {
    body.push(tEl("p", { class: "hint" }, "host.report.gone"),
      el("div", { class: "actions" }, tEl("button", { type: "button", onclick: () => dismissReport(key) }, "host.alert.dismiss")));
  }
  const article = el("article", {},
    el("div", { class: "item-head" }, el("span", { class: "badge" }, roomTitle(r.room)),
      tEl("span", { class: "meta" }, "host.report.by", { name: nameEl(r.by?.name ?? t("host.someone")), time: timeEl() })),
    el("p", {}, tEl("strong", {}, "host.report.reason"), " ", r.reason ? textEl(r.reason, "span") : tEl("span", {}, "host.report.no_reason")),
    ...body,
    el("p", { class: "hint report-state" }));
  const node = el("li", { class: "item" }, translateAttr(article, "aria-label", "host.report.label", { room: roomTitle(r.room) }));
  state.reports.set(key, { frame: r, el: node });
  $("#reports").prepend(node);
  renderCounts();
  if (room) updateRoom(room);
}

function dismissReport(key) {
  const report = state.reports.get(key);
  if (!report) return;
  report.el.remove();
  state.reports.delete(key);
  renderCounts();
}

function onNote(n) {
  rememberNotes(n.room, n.session, [{ by: n.by, text: n.text, ts: n.ts }]);
  refreshNotes(n.room, n.session);
  const room = state.rooms.get(n.room);
  if (room) renderPerson(room, n.session);
  flash(toast, t("host.note.saved"));
}

// ---- notices, acks, errors ---------------------------------------------------
function onNotice(n) {
  if (n.code === "broker_degraded" || n.code === "broker_ok") {
    state.degraded = n.code === "broker_degraded";
    renderConnection();
    return;
  }
  const room = n.room ? state.rooms.get(n.room) : null;
  if (n.code === "crisis") {
    if (n.risk === "imminent") {
      addDanger(n);
      callHost(t("host.danger.title"), t("host.notify.danger", { room: roomTitle(n.room) }),
        `danger-${n.message_id || Date.now()}`, n.message_id);
    } else {
      addAlert(serverText(n, t("host.crisis.fallback")), "urgent", n.message_id);
    }
    return;
  }
  if (n.code === "duty") {
    state.onBreak = n.on_duty === false;
    state.dutyPending = false;
    ss.set("cs.host.break", state.onBreak);
    renderDuty();
    flash(toast, serverText(n));
    return;
  }
  if (n.code === "mode" && room) {
    room.mode = n.mode || "open";
    room.modeHeard = true;
    state.modes.set(n.room, room.mode);
    updateRoom(room);
    flash(toast, t("host.mode.notice", { room: room.title, mode: modeWords(n.mode || "open") }));
    return;
  }
  if ((n.code === "slowmode" || n.code === "locked") && room) {
    if ("slowmode" in n) room.slowmode = Number(n.slowmode) || 0;
    if ("locked" in n) room.locked = Boolean(n.locked);
    updateRoom(room);
  }
  if (n.code === "done" && room) {
    const index = state.actions.findIndex((a) => a.room === n.room);
    if (index >= 0) {
      const [action] = state.actions.splice(index, 1);
      const p = room.people.get(action.session);
      if (p) {
        for (const key of ["muted", "banned", "left"]) if (key in action) p[key] = action[key];
        renderPerson(room, action.session);
      }
    }
  }
  if (n.code === "shield" && room) {
    room.shield = Boolean(n.on);
    room.ui.shield.update();
  }
  if (n.code === "join_burst" && room) {
    addAlert(t("host.alert.in_room", { room: room.title, text: serverText(n) }), "");
    if (n.offer_shield && !room.shield) {
      const offer = el("button", { type: "button", class: "primary", onclick: () => socket.send({ type: "shield", room: room.id, on: true }) },
        t("host.shield.turn_on"));
      $("#alerts").firstChild?.querySelector(".actions")?.prepend(offer);
    }
    return;
  }
  if (n.code === "maybe_returning" && room) {
    addAlert(t("host.alert.in_room", { room: room.title, text: serverText(n) }), "");
    const p = room.people.get(n.session);
    if (p) {
      p.flagged = true;
      renderPerson(room, n.session);
    }
    return;
  }
  if (n.code === "removed" && room) {
    state.rooms.delete(n.room);
    room.card.remove();
  }
  flash(toast, serverText(n));
}

function onAck(a) {
  if (a.status === "rejected") flash(toast, t("host.ack.rejected", { why: a.message || a.reason || t("host.ack.refused") }));
}

function onError(e) {
  if (!socket.welcomed) {
    socket.stop();
    showSignin(serverText(e, t("host.signin.failed")));
    return;
  }
  if (e.code === "name_taken" && e.message) {
    addAlert(t("host.error.name_taken", { message: serverText(e) }), "");
    state.probing.clear();
    finishProbe();
    return;
  }
  if (state.actions.length && ["forbidden", "bad_request", "unavailable"].includes(e.code)) state.actions.shift();
  // A failed release (another host was quicker): let the button work again.
  for (const item of state.held.values()) {
    const button = item.el.querySelector("button.primary");
    if (button?.disabled) {
      button.disabled = false;
      translate(button, "host.held.release");
    }
  }
  flash(toast, serverText(e, t("console.failed")));
}

// ---- your shift: on duty or taking a break -------------------------------------
function renderDuty() {
  const status = $("#duty-status");
  const button = $("#duty-toggle");
  status.className = "duty-status " + (state.onBreak ? "unhosted" : "hosted");
  status.replaceChildren(el("span", { class: "dot", "aria-hidden": "true" }),
    el("strong", {}, t(state.onBreak ? "host.duty.break" : "host.duty.on")), " ",
    el("span", { class: "hint" }, t(state.onBreak ? "host.duty.break_hint" : "host.duty.on_hint")));
  translate(button, state.onBreak ? "host.duty.back" : "host.duty.take_break");
  button.disabled = state.dutyPending;
}

function toggleDuty() {
  const on = state.onBreak; // on a break: come back; on duty: take one
  if (!socket.send({ type: "duty", on })) {
    flash(toast, t("host.not_connected"));
    return;
  }
  // The host's choice is kept at once, so a reload before the server's answer still honours it.
  ss.set("cs.host.break", !on);
  state.dutyPending = true;
  renderDuty();
  setTimeout(() => {
    if (state.dutyPending) {
      state.dutyPending = false;
      renderDuty();
    }
  }, 5000);
}

// ---- reaching a host who is in another tab: notifications and a tone ------------
const canNotify = "Notification" in window;
let audio = null;

function renderNotify() {
  const button = $("#notify-enable");
  const status = $("#notify-status");
  const permission = canNotify ? Notification.permission : "unsupported";
  button.hidden = permission !== "default";
  status.textContent = permission === "default" ? "" : t(`host.notify.${permission}`);
  status.hidden = !status.textContent;
  $("#sound-on").checked = state.sound;
}

async function enableNotifications() {
  if (!canNotify) return;
  try {
    await Notification.requestPermission();
  } catch {
    /* an old browser without the promise form: the status says what we know */
  }
  renderNotify();
}

/** A short, soft two-note tone made on the spot (no audio files): only after the host turned it on. */
function tone() {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const start = audio.currentTime + 0.02;
    [[660, 0], [880, 0.18]].forEach(([frequency, offset]) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.12, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(start + offset);
      osc.stop(start + offset + 0.18);
    });
  } catch {
    /* no audio here: the notification and the page still say it */
  }
}

function inBackground() {
  return document.visibilityState === "hidden" || !document.hasFocus();
}

/**
 * Tell a host who is looking at another tab or window: a desktop notification (if they allowed it)
 * and the tone (if they turned it on). Never the message's text: notifications show on lock screens.
 */
function callHost(title, body, tag, heldId) {
  if (!inBackground()) return;
  if (state.sound) tone();
  if (!canNotify || Notification.permission !== "granted") return;
  try {
    const note = new Notification(title, { body, tag, requireInteraction: false });
    note.onclick = () => {
      window.focus();
      if (heldId && state.held.has(heldId)) selectHeld(heldId, true);
      note.close();
    };
  } catch {
    /* some browsers only notify from a service worker: the alert in the page remains */
  }
}

// ---- keyboard shortcuts for the held queue ---------------------------------------
function selectHeld(id, focus = true) {
  const item = state.held.get(id);
  if (!item) return;
  for (const node of $("#queue").querySelectorAll(".item.current")) node.classList.remove("current");
  item.el.classList.add("current");
  item.el.tabIndex = -1;
  state.current = id;
  if (focus) item.el.focus({ preventScroll: true });
  item.el.scrollIntoView({ block: "nearest" });
}

function moveSelection(step) {
  const items = [...$("#queue").children];
  if (!items.length) return;
  const at = items.findIndex((li) => li.dataset.id === state.current);
  const next = at < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, at + step));
  selectHeld(items[next].dataset.id);
}

function typingIn(target) {
  return target instanceof Element
    && Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
}

function toggleShortcuts() {
  const help = $("#shortcuts");
  help.open = !help.open;
  if (help.open) {
    help.querySelector("summary").focus();
    help.scrollIntoView({ block: "nearest" });
  }
}

function onShortcut(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
  if (typingIn(event.target) || $("#view-console").hidden) return;
  if (event.key === "?") {
    event.preventDefault();
    toggleShortcuts();
    return;
  }
  if (!["j", "k", "r", "a", "x"].includes(event.key)) return;
  event.preventDefault();
  if (event.key === "j" || event.key === "k") {
    moveSelection(event.key === "j" ? 1 : -1);
    return;
  }
  if (!state.current || !state.held.has(state.current)) {
    moveSelection(1);
    if (!state.current) flash(toast, t("host.queue.nothing"));
    return;
  }
  const item = state.held.get(state.current).el;
  const selector = { r: "button.reveal", a: "button.release", x: "button.reject" }[event.key];
  item.querySelector(selector)?.click();
}

// ---- wiring ------------------------------------------------------------------
$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("#host-name").value.trim();
  const token = $("#host-token").value.trim();
  if (!name || !token) {
    $("#signin-error").textContent = t("host.signin.missing");
    return;
  }
  state.name = name;
  state.token = token;
  ss.set("cs.host.name", name);
  ss.set("cs.host.token", token);
  $("#host-token").value = "";
  $("#signin-error").textContent = "";
  resetAll();
  socket.stop();
  socket.start();
});
$("#sign-out").addEventListener("click", signOut);
$("#duty-toggle").addEventListener("click", toggleDuty);
$("#notify-enable").addEventListener("click", enableNotifications);
$("#sound-on").addEventListener("change", (event) => {
  state.sound = event.target.checked;
  ss.set("cs.host.sound", state.sound);
  if (state.sound) tone(); // so the host knows what it sounds like (and the browser lets it play later)
});
document.addEventListener("keydown", onShortcut);
// A narrower window makes a long snippet taller: keep every box that has text fitted to it.
window.addEventListener("resize", () => {
  for (const box of document.querySelectorAll(".post-form textarea, .greet-form textarea")) {
    if (box.value) fitBox(box);
  }
});
// A page may only start sound after a click: wake a tone that was turned on before a reload.
for (const kind of ["pointerdown", "keydown"]) {
  document.addEventListener(kind, () => {
    if (!state.sound) return;
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
    } catch {
      /* no audio here */
    }
  }, { once: true });
}

/** A new language: draw again what is drawn from state (elements made with tEl follow by themselves). */
function onLanguage() {
  renderConnection();
  renderCounts();
  renderDuty();
  renderNotify();
  for (const node of document.querySelectorAll("#queue .explain")) node.hidden = Boolean(node.dataset.known) && lang() !== "en";
  for (const room of state.rooms.values()) {
    updateRoom(room);
    renderSnippets(room);
    room.ui.shield.update();
    for (const [session, p] of room.people) {
      renderPerson(room, session);
      if (p.lastCard && p.ui?.card) renderCard(p.ui.card, p.lastCard, p.ui.act);
    }
  }
}

mountPickers();
window.addEventListener("cs:language", onLanguage);
renderCounts();
renderDuty();
renderNotify();
if (state.token && state.name) {
  showConsole();
  socket.start();
} else {
  showSignin();
}
