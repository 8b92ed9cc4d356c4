// The host console: held queue, reports, people and room switches for every room one hosts.
import {
  $, ChatSocket, el, flash, nameEl, newId, ss, textEl, timeEl,
} from "./common.js";
import { personTools, reasonPicker, rememberRoomModeration, renderCard, shieldControl } from "./person-card.js";
import { cardEl, fetchAbout } from "./library.js";

// The host console's words are still in English here (issue 19: its catalogs come later).
function waitedText(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `waiting ${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `waiting ${m} min`;
  return `waiting ${Math.floor(m / 60)} h ${m % 60} min`;
}

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
  const text = s === "reconnecting" ? "Connection lost. Reconnecting by itself…"
    : s === "connecting" ? "Connecting…"
      : state.degraded ? "Message delivery is degraded right now (broker trouble)." : "";
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
  who.replaceChildren("Signed in as ", nameEl(state.name),
    ...(state.role === "admin" ? [" (admin) · ", el("a", { href: "/admin.html" }, "Admin view")] : []));
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
    showSignin("That token was not recognised. Please check it and try again.");
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
      flash(toast, "Could not load the list of rooms; retrying.");
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
  if (!ids.length) $("#rooms-loading").textContent = "There are no rooms yet.";
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
  if (!state.rooms.size) $("#rooms-loading").textContent = "You are not a host of any room yet.";
}

const SLOW_CHOICES = [[0, "Off"], [5, "5 seconds"], [10, "10 seconds"], [30, "30 seconds"], [60, "1 minute"], [300, "5 minutes"]];

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
  const slow = el("select", { id: slowId }, ...SLOW_CHOICES.map(([v, label]) => el("option", { value: String(v) }, label)));
  slow.addEventListener("change", () => socket.send({ type: "slowmode", room: id, seconds: Number(slow.value) }));
  const lock = el("button", { type: "button", "aria-pressed": "false" }, "Lock room");
  lock.addEventListener("click", () => socket.send({ type: "lock", room: id, locked: !room.locked }));
  const lockHint = el("span", { class: "hint", hidden: true }, "Locked: only hosts can post.");
  const postId = `post-${id}`;
  const postInput = el("textarea", { id: postId, rows: "3", maxlength: "2000", "aria-describedby": `${postId}-hint` });
  const snippets = el("div", { class: "snippets", role: "group", "aria-label": "Snippets" });
  const post = el("form", { class: "inline-form post-form" },
    el("label", { for: postId }, "Post in this room as a host"),
    snippets, postInput,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary" }, "Post"),
      el("span", { id: `${postId}-hint`, class: "hint" }, "Ctrl+Enter posts. A snippet only fills the box: edit it, then Post.")));
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
    peopleEmpty: el("p", { class: "empty" }, "Nobody else is here yet."),
    feedList: el("ol", { class: "feed", "aria-label": `Recent messages in ${id}` }),
    feedEmpty: el("p", { class: "empty" }, "No messages yet."),
    libraryList: el("div", { class: "lib-list" }),
  };
  const ui = room.ui;
  ui.shield = shieldControl(room, (frame) => socket.send(frame));
  room.card = el("section", { class: "room-card", "aria-labelledby": titleId, dataset: { room: id } },
    el("h3", { id: titleId }, ui.title, " ", ui.count),
    ui.cover,
    el("div", { class: "switches" },
      el("div", { class: "field" }, el("label", { for: slowId }, "Slow mode"), slow),
      lock, lockHint, ui.shield.node),
    post,
    ui.library = el("details", { class: "library-box", hidden: true },
      el("summary", {}, "Library: share a card with the room"), ui.libraryList),
    el("details", { class: "people-box", open: true },
      el("summary", {}, "People (", ui.peopleCount, ")"), ui.peopleEmpty, ui.peopleList),
    el("details", { class: "feed-box" },
      el("summary", {}, "Recent messages"), ui.feedEmpty, ui.feedList));
  return room;
}

/** The room's library cards, each with "Share in room": one click sends it to everyone as a card. */
async function loadLibrary(room) {
  const about = await fetchAbout(room.id);
  if (!about) return;
  room.ui.libraryList.replaceChildren(...about.cards.map((card) => {
    const done = el("span", { class: "hint", role: "status" });
    const share = el("button", {
      type: "button", class: "lib-push", dataset: { push: String(card.id) }, "aria-label": `Share in room: ${card.title}`,
      onclick: () => {
        if (socket.send({ type: "push_card", room: room.id, card: card.id })) done.textContent = "Sharing…";
      },
    }, "Share in room");
    return cardEl(card, { heading: "h4", extra: el("div", { class: "actions" }, share, done) });
  }));
  room.ui.library.hidden = about.cards.length === 0;
}

// A card reached the room (ours or another host's): say so beside it.
function onCardShared(f) {
  const room = state.rooms.get(f.room);
  const status = room?.ui.libraryList.querySelector(`[data-push="${CSS.escape(String(f.card?.id ?? ""))}"] + .hint`);
  if (status) status.textContent = `Shared by ${f.from?.name ?? "a host"} at ${new Date(f.ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}.`;
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
  ui.feedList.setAttribute("aria-label", `Recent messages in ${room.title}`);
  ui.count.textContent = `· ${room.members} here · ${heldCount(room.id)} waiting`;
  const cover = coverText(room);
  ui.cover.className = ("room-cover " + cover.kind).trim();
  ui.cover.replaceChildren(el("span", { class: "dot", "aria-hidden": "true" }), cover.text);
  ui.cover.hidden = !cover.text;
  const value = String(Number(room.slowmode) || 0);
  if (![...ui.slow.options].some((o) => o.value === value)) ui.slow.append(el("option", { value }, `${value} seconds`));
  ui.slow.value = value;
  ui.lock.setAttribute("aria-pressed", String(room.locked));
  ui.lockHint.hidden = !room.locked;
  const n = ui.peopleList.children.length;
  ui.peopleCount.textContent = String(n);
  ui.peopleEmpty.hidden = n > 0;
  ui.feedEmpty.hidden = ui.feedList.children.length > 0;
}

const MODE_WORDS = {
  premoderate: "every participant message waits for a host",
  read_only: "participants can read but not post",
  closed: "closed to participants",
};

/** Who is looking after the room, as its participants see it. */
function coverText(room) {
  const n = room.hosts;
  const hosts = n === null ? "" : n === 0 ? "No host on duty" : n === 1 ? "1 host on duty" : `${n} hosts on duty`;
  if (room.mode && room.mode !== "open") {
    return { kind: room.mode === "closed" ? "closed" : "unhosted", text: `${hosts ? hosts + "; " : ""}${MODE_WORDS[room.mode] || room.mode}` };
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
    const script = name === room.opening ? "Opening script" : name === room.closing ? "Closing script" : "";
    const own = humanName(name);
    const label = !script ? own : script.startsWith(own + " ") ? script : `${script}: ${own}`;
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
    : "Hello, and welcome. I'm one of the volunteer hosts here. Take your time: reading along is fine.";
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
  if (p.role === "host" || p.role === "admin") chips.push(el("span", { class: "badge" }, "host"));
  if (p.muted) chips.push(el("span", { class: "badge warn" }, "muted"));
  if (p.banned) chips.push(el("span", { class: "badge urgent" }, "banned"));
  if (p.flagged) chips.push(el("span", { class: "badge warn" }, "may be someone banned earlier"));
  if (p.left) chips.push(el("span", { class: "hint" }, "left"));
  if (p.greeted) chips.push(el("span", { class: "hint" }, "greeted"));
  const notes = state.notes.get(`${room.id} ${session}`) || [];
  if (notes.length) chips.push(el("span", { class: "badge" }, `${notes.length} note${notes.length > 1 ? "s" : ""}`));
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
  const toggle = el("button", {
    type: "button", "aria-expanded": "false", "aria-controls": panelId, "aria-label": `Actions for ${p.name}`,
  }, "Actions");
  const greet = el("button", { type: "button", class: "greet", "aria-label": `Greet ${p.name} privately` }, "Greet");
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
    el("label", { for: boxId }, "Private message to ", nameEl(person.name), " (only they will see it)"),
    box,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "primary" }, "Send privately"),
      el("button", { type: "button", onclick: close }, "Cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) return;
    if (socket.send({ type: "greet", room: room.id, session, text })) {
      person.greeted = true;
      renderPerson(room, session);
      close();
    } else {
      flash(toast, "Not connected: try again in a moment.");
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
    ...[[5, "5 minutes"], [15, "15 minutes"], [60, "1 hour"], [1440, "1 day"]]
      .map(([v, label]) => el("option", { value: String(v), selected: v === 15 }, label)));
  const act = (frame, sanction) => {
    if (socket.send({ ...frame, room: room.id, session })) {
      if (sanction) state.actions.push({ room: room.id, session, ...sanction });
    } else {
      flash(toast, "Not connected: try again in a moment.");
    }
  };
  const confirmWith = (label, frameType, sanction) => {
    const reasonId = `why-${frameType}-${room.id}-${session}`;
    const reason = el("input", { id: reasonId, type: "text", maxlength: "500", autocomplete: "off" });
    const form = el("form", { class: "inline-form confirm" },
      el("label", { for: reasonId }, "Reason they will see (optional)"), reason,
      el("div", { class: "actions" },
        el("button", { type: "submit", class: "danger" }, label),
        el("button", { type: "button", onclick: () => form.remove() }, "Cancel")));
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
    el("label", { for: noteId }, "Care note for the hosts"), note,
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Save note")));
  noteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = note.value.trim();
    if (text && socket.send({ type: "note", room: room.id, session, text })) note.value = "";
  });
  person.ui.unban = el("button", { type: "button", hidden: !person.banned, onclick: () => act({ type: "unban" }, { banned: false }) }, "Unban");
  panel.append(
    el("div", { class: "switches" },
      el("div", { class: "field" }, el("label", { for: muteId }, "Mute for"), minutes),
      el("button", { type: "button", onclick: () => act({ type: "mute", minutes: Number(minutes.value) }, { muted: true }) }, "Mute"),
      el("button", { type: "button", onclick: () => act({ type: "unmute" }, { muted: false }) }, "Unmute")),
    el("div", { class: "actions" },
      el("button", { type: "button", class: "danger", onclick: () => confirmWith("Remove from room", "kick", { left: true }) }, "Remove…"),
      el("button", { type: "button", class: "danger", onclick: () => confirmWith("Ban from room", "ban", { banned: true, left: true }) }, "Ban…"),
      person.ui.unban),
    notesEl(room.id, session),
    noteForm);
  const tools = personTools(room, session, person, (frame) => act({ ...frame }));
  person.ui.card = tools.card;
  person.ui.act = (next) => {
    if (next.action === "mute") act({ type: "mute", minutes: Number(next.minutes) }, { muted: true });
    else if (next.action === "ban") confirmWith("Ban from room", "ban", { banned: true, left: true });
    else if (next.action === "kick") confirmWith("Remove from room", "kick", { left: true });
    else panel.querySelector(".warn-form select")?.focus();
  };
  panel.append(tools.node);
}

// ---- proportionate moderation (issue 16): the person card and the ladder's proposals ----------
function onPersonCard(c) {
  const p = state.rooms.get(c.room)?.people.get(c.session);
  if (p?.ui?.card) renderCard(p.ui.card, c, p.ui.act);
}

function onStrikes(s) {
  const room = state.rooms.get(s.room);
  const p = room?.people.get(s.session);
  if (p?.ui?.card && !p.ui.card.hidden) socket.send({ type: "person", room: s.room, session: s.session });
  flash(toast, `${p?.name || "They"} now ${s.strikes === 1 ? "has 1 strike" : `have ${s.strikes} strikes`}. `
    + `The room's ladder suggests next: ${s.next?.label || "warn"} (you decide).`);
}

function notesEl(roomId, session, extra = []) {
  const notes = [...(state.notes.get(`${roomId} ${session}`) || [])];
  for (const n of extra || []) {
    if (!notes.some((m) => m.text === n.text && m.ts === n.ts)) notes.push(n);
  }
  return el("div", { class: "notes", dataset: { notes: `${roomId} ${session}` }, hidden: notes.length === 0 },
    el("h4", {}, "Care notes"),
    el("ul", {}, ...notes.map((n) => el("li", {}, textEl(n.text, "span"), el("span", { class: "hint" }, " — ", nameEl(n.by || "host"))))));
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
  const name = m.from?.name ?? "someone";
  return el("li", { dataset: { id: m.id } },
    nameEl(name), ":", textEl(m.cw ? `[content warning: ${m.cw}] ${m.text}` : m.text),
    el("button", {
      type: "button", class: "danger", "aria-label": `Delete this message from ${name}`,
      onclick: () => socket.send({ type: "delete", room: room.id, message_id: m.id }),
    }, "Delete"));
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
      node.querySelector(".report-state")?.replaceChildren("A host deleted this message.");
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
      el("div", { class: "person-row" }, nameEl(p.joined), el("span", { class: "hint" }, "has not written yet")));
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

const REASONS = {
  crisis: "Possible crisis",
  blocklist: "Blocked word",
  links: "Link",
  pii: "Personal details",
  premoderate: "Pre-moderation",
  repeat: "Repeated text",
};

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
    addAlert(`An urgent message is waiting in ${roomTitle(h.room)}.`, "urgent", h.id);
    callHost("An urgent message is waiting", `In ${roomTitle(h.room)}.`, `held-${h.id}`, h.id);
  }
}

function heldEl(h) {
  const textId = "h" + newId();
  const text = textEl(h.text, "div", "held-text blurred");
  text.id = textId;
  text.setAttribute("aria-hidden", "true");
  const srNote = el("p", { class: "sr-only" }, "The message text is hidden until you choose to read it.");
  const reveal = el("button", { type: "button", class: "reveal", "aria-expanded": "false", "aria-controls": textId }, "Read message");
  reveal.addEventListener("click", () => {
    const show = text.classList.contains("blurred");
    text.classList.toggle("blurred", !show);
    if (show) text.removeAttribute("aria-hidden");
    else text.setAttribute("aria-hidden", "true");
    srNote.hidden = show;
    reveal.setAttribute("aria-expanded", String(show));
    reveal.textContent = show ? "Blur again" : "Read message";
  });
  const reasons = Array.isArray(h.reasons) ? h.reasons : [];
  const explanations = Array.isArray(h.explanations) ? h.explanations : [];
  const release = el("button", { type: "button", class: "primary release" }, "Release");
  release.addEventListener("click", () => {
    if (socket.send({ type: "release", room: h.room, message_id: h.id })) {
      release.disabled = true;
      release.textContent = "Releasing…";
    }
  });
  const rejectToggle = el("button", { type: "button", class: "reject", "aria-expanded": "false" }, "Reject…");
  const noteId = "n" + newId();
  const noteBox = el("textarea", { id: noteId, rows: "2", maxlength: "1000" });
  const pick = reasonPicker(state.rooms.get(h.room));
  const rejectForm = el("form", { class: "inline-form", hidden: true }, pick.field,
    el("label", { for: noteId }, "Note to the person (optional, they will see it)"), noteBox,
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "danger" }, "Reject"),
      el("button", { type: "button", onclick: () => toggleReject(false) }, "Cancel")));
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
    h.risk === "imminent" ? el("span", { class: "badge urgent" }, "Immediate danger")
      : h.urgent ? el("span", { class: "badge urgent" }, "Urgent") : null,
    el("span", { class: "badge" }, roomTitle(h.room)),
    nameEl(h.from?.name ?? "someone"),
    el("span", { class: "meta waited" }, waitedText(Number(h.waited_s) || 0)),
    h.cw ? el("span", { class: "badge warn" }, "CW: ", el("bdi", {}, String(h.cw))) : null);
  return el("li", { class: "item held" + (h.urgent ? " urgent" : ""), dataset: { id: h.id } },
    el("article", { "aria-label": `Held message from ${h.from?.name ?? "someone"}${h.urgent ? ", urgent" : ""}` },
      heading,
      reasons.length ? el("ul", { class: "reasons" }, ...reasons.map((r, i) => el("li", {},
        el("strong", {}, REASONS[r] || r), explanations[i] ? `: ${explanations[i]}` : ""))) : null,
      text, srNote,
      notesEl(h.room, h.from?.session, h.notes),
      el("div", { class: "actions" }, reveal, release, rejectToggle),
      rejectForm));
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
  if (item) flash(toast, `${r.action === "released" ? "Released" : "Rejected"} by ${r.by}.`);
}

function onEscalated(e) {
  const item = state.held.get(e.id);
  if (item) {
    const head = item.el.querySelector(".item-head");
    if (!head.querySelector(".escalated")) head.append(el("span", { class: "badge urgent escalated" }, "Waiting too long"));
  }
  addAlert(`A message in ${roomTitle(e.room)} has been ${waitedText(e.waited_s)} for a host.`, "", e.id);
  callHost("A message is waiting too long", `In ${roomTitle(e.room)}: ${waitedText(e.waited_s)}.`, `esc-${e.id}`, e.id);
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
      }, "Show") : null,
      el("button", { type: "button", onclick: () => node.remove() }, "Dismiss")));
  alerts.prepend(node);
  while (alerts.children.length > 6) alerts.lastChild.remove();
}

// Someone may be in immediate danger: shown apart from every other alert, with what to do first,
// until a host says they have reached out.
function addDanger(n) {
  const list = $("#danger-list");
  const at = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const item = el("li", { class: "danger-item" },
    el("p", {}, String(n.text || "Someone may be in immediate danger."), " ", el("span", { class: "hint" }, at)));
  const actions = el("div", { class: "actions" });
  if (n.message_id && state.held.has(n.message_id)) {
    actions.append(el("button", { type: "button", onclick: () => {
      const target = state.held.get(n.message_id)?.el.querySelector("button");
      target?.focus();
      target?.scrollIntoView({ block: "center" });
    } }, "Show their message"));
  }
  actions.append(el("button", { type: "button", class: "primary", onclick: () => {
    item.remove();
    $("#danger").hidden = list.children.length === 0;
  } }, "I have reached out"));
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
  document.title = n ? `(${n}) Host console` : "Host console";
}

setInterval(() => {
  for (const item of state.held.values()) {
    const waited = item.el.querySelector(".waited");
    if (waited) waited.textContent = waitedText((performance.now() - item.since) / 1000);
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
    const reveal = el("button", { type: "button", "aria-expanded": "false", "aria-controls": textId }, "Read message");
    reveal.addEventListener("click", () => {
      const show = text.classList.contains("blurred");
      text.classList.toggle("blurred", !show);
      if (show) text.removeAttribute("aria-hidden");
      else text.setAttribute("aria-hidden", "true");
      reveal.setAttribute("aria-expanded", String(show));
      reveal.textContent = show ? "Blur again" : "Read message";
    });
    body.push(el("p", { class: "meta" }, "Message from ", nameEl(r.from.name)), text,
      notesEl(r.room, r.from.session, r.notes),
      el("div", { class: "actions" }, reveal,
        el("button", { type: "button", class: "danger", onclick: () => socket.send({ type: "delete", room: r.room, message_id: r.message_id }) }, "Delete message"),
        r.from.session ? el("button", {
          type: "button", onclick: () => {
            if (socket.send({ type: "mute", room: r.room, session: r.from.session, minutes: 15 })) {
              state.actions.push({ room: r.room, session: r.from.session, muted: true });
            }
          },
        }, "Mute author 15 min") : null,
        el("button", { type: "button", onclick: () => dismissReport(key) }, "Dismiss")));
  } else {
    body.push(el("p", { class: "hint" }, "The message is no longer in recent history."),
      el("div", { class: "actions" }, el("button", { type: "button", onclick: () => dismissReport(key) }, "Dismiss")));
  }
  const node = el("li", { class: "item" },
    el("article", { "aria-label": `Report in ${roomTitle(r.room)}` },
      el("div", { class: "item-head" }, el("span", { class: "badge" }, roomTitle(r.room)),
        el("span", { class: "meta" }, "Reported by ", nameEl(r.by?.name ?? "someone"), " at "), timeEl()),
      el("p", {}, el("strong", {}, "Reason: "), r.reason ? textEl(r.reason, "span") : "none given"),
      ...body,
      el("p", { class: "hint report-state" })));
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
  flash(toast, "Note saved.");
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
      callHost("Someone may be in immediate danger", `In ${roomTitle(n.room)}. Please reach out to them now.`,
        `danger-${n.message_id || Date.now()}`, n.message_id);
    } else {
      addAlert(String(n.text || "Someone may be in crisis."), "urgent", n.message_id);
    }
    return;
  }
  if (n.code === "duty") {
    state.onBreak = n.on_duty === false;
    state.dutyPending = false;
    ss.set("cs.host.break", state.onBreak);
    renderDuty();
    flash(toast, String(n.text || ""));
    return;
  }
  if (n.code === "mode" && room) {
    room.mode = n.mode || "open";
    room.modeHeard = true;
    state.modes.set(n.room, room.mode);
    updateRoom(room);
    flash(toast, `${room.title}: ${n.mode === "open" ? "open, with a host" : MODE_WORDS[n.mode] || n.mode}.`);
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
    addAlert(`${room.title}: ${String(n.text || "")}`, "");
    if (n.offer_shield && !room.shield) {
      const offer = el("button", { type: "button", class: "primary", onclick: () => socket.send({ type: "shield", room: room.id, on: true }) },
        "Turn on shield mode");
      $("#alerts").firstChild?.querySelector(".actions")?.prepend(offer);
    }
    return;
  }
  if (n.code === "maybe_returning" && room) {
    addAlert(`${room.title}: ${String(n.text || "")}`, "");
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
  flash(toast, String(n.text || ""));
}

function onAck(a) {
  if (a.status === "rejected") flash(toast, `Not posted: ${a.message || a.reason || "refused"}`);
}

function onError(e) {
  if (!socket.welcomed) {
    socket.stop();
    showSignin(e.message || "Could not sign in.");
    return;
  }
  if (e.code === "name_taken" && e.message) {
    addAlert(e.message + " Sign out and choose another display name to host that room.", "");
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
      button.textContent = "Release";
    }
  }
  flash(toast, e.message || "That did not work.");
}

// ---- your shift: on duty or taking a break -------------------------------------
function renderDuty() {
  const status = $("#duty-status");
  const button = $("#duty-toggle");
  status.className = "duty-status " + (state.onBreak ? "unhosted" : "hosted");
  status.replaceChildren(el("span", { class: "dot", "aria-hidden": "true" }),
    el("strong", {}, state.onBreak ? "Taking a break" : "On duty"), " ",
    el("span", { class: "hint" }, state.onBreak
      ? "Your rooms do not count you as here; people see whether another host is."
      : "Your rooms count you as a host who is here."));
  button.textContent = state.onBreak ? "Back on duty" : "Take a break";
  button.disabled = state.dutyPending;
}

function toggleDuty() {
  const on = state.onBreak; // on a break: come back; on duty: take one
  if (!socket.send({ type: "duty", on })) {
    flash(toast, "Not connected: try again in a moment.");
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
  status.textContent = {
    granted: "Desktop notifications are on for urgent messages, crisis alerts and long waits while this tab is in the background.",
    denied: "Desktop notifications are blocked for this site in your browser's settings.",
    unsupported: "This browser cannot show desktop notifications.",
    default: "",
  }[permission];
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
    if (!state.current) flash(toast, "Nothing is waiting.");
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
    $("#signin-error").textContent = "Please enter a name and your host token.";
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

renderCounts();
renderDuty();
renderNotify();
if (state.token && state.name) {
  showConsole();
  socket.start();
} else {
  showSignin();
}
