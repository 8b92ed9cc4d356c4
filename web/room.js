// The participant page: pick a name, pick a room, talk. See docs/ui.md.
import {
  $, ChatSocket, fallbackResources, dayAndTime, el, fillCountrySelect, flash, guessCountry, helplinesEl, ls, nameEl,
  newId, opensText, relativeText, resourceCountries, ss, tEl, textEl, timeEl,
} from "./common.js";
import { badgeEls, cardEl, fetchAbout, peerNoteFallback, pushedCardEl, sessionEls, titleBadge } from "./library.js";
import { onQuickExit } from "./exit.js";
import { has, lang, languageNames, mountPickers, serverSpan, serverText, t, tParts, translate, translateAttr } from "./i18n.js";
import { browserId, hideWarning, notSharedEl, renderRules, showWarning } from "./warning.js";

const TYPING_SEND_EVERY = 2500;
const TYPING_SHOW_FOR = 4500;
const DRAFT_CHECK_AFTER = 700; // ms of quiet in the message box before a draft is looked at
const coarsePointer = window.matchMedia("(pointer: coarse)");

const state = {
  name: ss.get("cs.name"),
  session: null,
  sessions: new Set(ss.get("cs.sessions", [])), // every identity this tab has had (own messages)
  room: ss.get("cs.room"), // the room we want to be in
  joinedRoom: null, // the room whose messages are on screen
  accepted: new Set(ss.get("cs.accepted", [])),
  info: null,
  resources: [],
  seen: new Map(), // message id -> element
  lastId: null,
  lastSeq: 0,
  pending: new Map(), // client_id -> own message not yet published
  byId: new Map(), // message id -> own pending entry (acked, message not seen yet)
  hidden: ls.get("cs.hidden", {}), // session -> name: personal mutes, this device only
  typing: new Map(),
  degraded: false,
  resyncing: false,
  lastTypingSent: 0,
  roomsTimer: 0,
  notJoinedRetries: 0,
  reportTarget: null,
  roomTitles: new Map(),
  roomInfo: new Map(), // room id -> its /api/rooms item: hosts on duty, mode, opens_at
  hosts: null, // hosts on duty in the room we are in (null: not known)
  mode: "open", // that room's mode: open | premoderate | read_only | closed
  closed: null, // the closed room on screen: {room, opensAt, said}
  atBottom: true,
  helpShownAt: 0,
  // Where the person is, for helplines: their own choice (this browser only), else a guess from its languages.
  country: ls.get("cs.country") ?? guessCountry(),
  card: null, // what the support box shows: {items, why, draft}
  hints: [], // "while typing" patterns of the room (RegExp), tested here and never sent anywhere
  hintsRoom: null,
  draftOffered: false, // help was offered for the draft in the box; again only after it is sent or cleared
  draftTimer: 0,
  about: null, // the room's library cards and its words on what peer support is (/api/library)
};

const views = ["name", "rooms", "closed", "guidelines", "room"];
const log = $("#log");
const toast = $("#toast");

// ---- the connection -------------------------------------------------------
const socket = new ChatSocket(() => {
  const hello = { name: state.name, lang: lang() };
  const resume = ss.get("cs.resume");
  if (resume) hello.resume = resume;
  return hello;
});
socket.addEventListener("frame", (event) => handle(event.detail));
socket.addEventListener("state", renderConnection);
socket.addEventListener("closed", onDisconnected);

let wasDown = false;
let slowConnect = 0;

function renderConnection() {
  const bar = $("#conn");
  const s = socket.state;
  let text = "";
  let ok = false;
  clearTimeout(bar._timer);
  if (s === "reconnecting") {
    wasDown = true;
    text = t("conn.reconnecting");
  } else if (s === "connecting") {
    // Only say so when it takes a while: a yellow bar flashing on every visit is not calm.
    clearTimeout(slowConnect);
    slowConnect = setTimeout(() => {
      if (socket.state === "connecting") {
        bar.textContent = t("conn.connecting");
        bar.hidden = false;
      }
    }, 1500);
  } else if (s === "open" && state.degraded) {
    text = t("conn.degraded");
  } else if (s === "open" && wasDown) {
    wasDown = false;
    text = t("conn.back");
    ok = true;
    bar._timer = setTimeout(() => {
      bar.hidden = true;
    }, 3000);
  }
  bar.textContent = text;
  bar.classList.toggle("ok", ok);
  bar.hidden = !text;
}

function onDisconnected() {
  for (const entry of state.pending.values()) {
    if (entry.status === "sending") {
      setStatus(entry.el, "failed", tEl("span", {}, "send.dropped"), {
        label: "send.again", action: () => resend(entry),
      });
      entry.status = "interrupted";
    } else if (entry.status === "shown") {
      state.pending.delete(entry.cid); // shown to the room already; its answer went with the connection
    }
  }
  stopTyping();
}

function handle(frame) {
  switch (frame.type) {
    case "welcome": return onWelcome(frame);
    case "joined": return onJoined(frame);
    case "message": return onMessage(frame, false);
    case "history": return onHistory(frame);
    case "ack": return onAck(frame);
    case "resolved": return onResolved(frame);
    case "deleted": return onDeleted(frame);
    case "presence": return onPresence(frame);
    case "typing": return onTyping(frame);
    case "resources": return showHelpCard(frame);
    case "lang": return onLangFrame(frame);
    case "notice": return onNotice(frame);
    case "private": return onPrivate(frame);
    case "card": return onCard(frame);
    case "warning": return onWarning(frame);
    case "error": return onError(frame);
    default: return undefined;
  }
}

function onWelcome(w) {
  state.session = w.session;
  state.sessions.add(w.session);
  ss.set("cs.sessions", [...state.sessions].slice(-20));
  ss.set("cs.resume", w.resume_token);
  state.notJoinedRetries = 0;
  if (state.room) join(state.room);
  else if (!$("#view-rooms").hidden) loadRooms(); // a reconnect must not move focus
}

// ---- views -----------------------------------------------------------------
function showView(name, focus = true) {
  for (const v of views) $(`#view-${v}`).hidden = v !== name;
  document.body.classList.toggle("in-room", name === "room");
  clearInterval(state.roomsTimer);
  // The list (and a closed room's opening time, "in 3 hours") is kept current while it is on screen.
  if (name === "rooms" || name === "closed") state.roomsTimer = setInterval(loadRooms, 15000);
  if (name !== "closed") state.closed = null;
  if (!focus) return;
  const target = {
    name: "#name-input", rooms: "#rooms-title", closed: "#closed-title", guidelines: "#guidelines-title", room: "#composer-text",
  }[name];
  $(target)?.focus({ preventScroll: name !== "room" });
}

function showName(error = "") {
  $("#name-input").value = state.name || "";
  $("#name-error").textContent = error;
  showView("name");
}

function showRooms(notice = "") {
  $("#me-name").textContent = state.name || "";
  const box = $("#rooms-notice");
  box.textContent = notice;
  box.hidden = !notice;
  showView("rooms");
  loadRooms();
}

async function loadRooms() {
  const list = $("#rooms");
  let rooms;
  try {
    const response = await fetch("/api/rooms?lang=" + encodeURIComponent(lang()), { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    rooms = await response.json();
  } catch {
    list.setAttribute("aria-busy", "false");
    if (!list.children.length) {
      const box = $("#rooms-notice");
      box.textContent = t("rooms.load_failed");
      box.hidden = false;
    }
    return;
  }
  if (!Array.isArray(rooms)) return;
  for (const room of rooms) {
    state.roomTitles.set(room.id, String(room.title || room.id));
    state.roomInfo.set(room.id, room);
  }
  fillRoomList(list, rooms);
  list.setAttribute("aria-busy", "false");
  $("#rooms-empty").hidden = rooms.length > 0;
  if (state.closed) renderClosed();
  const here = state.roomInfo.get(state.joinedRoom);
  if (here && here.title) $("#room-title").textContent = String(here.title);
  if (here && "topic" in here) $("#room-topic").textContent = String(here.topic || "");
  if (here && here.mode && here.mode !== state.mode && here.mode !== "closed") {
    state.mode = here.mode;
    renderHostStatus();
  }
}

/** Draw `rooms` into a list, updating items in place so keyboard focus on a button survives a refresh. */
function fillRoomList(list, rooms) {
  const ids = rooms.map((r) => r.id).join("\n");
  if (list.dataset.ids !== ids) {
    list.replaceChildren(...rooms.map(roomItem));
    list.dataset.ids = ids;
  }
  rooms.forEach((room, i) => updateRoomItem(list.children[i], room));
}

function peopleHere(n) {
  const count = Number(n) || 0;
  return count === 1 ? t("rooms.people_one") : t("rooms.people_many", { count });
}

/**
 * What a room is like right now, honestly: who is looking after it, or when it opens.
 * {kind: hosted | unhosted | closed, text, more?}; null when the server does not say.
 */
function hostStatus(hosts, mode, opensAt) {
  if (mode === "closed") {
    return { kind: "closed", text: t("status.closed"), more: opensText(opensAt) || t("status.opens_when_host") };
  }
  if (hosts === null || hosts === undefined) return null;
  const n = Number(hosts) || 0;
  if (n > 0) return { kind: "hosted", text: n === 1 ? t("status.hosts_one") : t("status.hosts_many", { count: n }) };
  const more = { premoderate: t("status.premoderate"), read_only: t("status.read_only") }[mode];
  return { kind: "unhosted", text: t("status.no_host"), more };
}

function statusEls(status) {
  if (!status) return [];
  return [el("span", { class: "dot", "aria-hidden": "true" }), el("strong", {}, status.text),
    ...(status.more ? [` · ${status.more}`] : [])];
}

function roomItem(room) {
  const title = String(room.title || room.id);
  const ui = {
    status: el("p", { class: "room-status" }),
    count: el("span", { class: "count" }),
    label: el("span", {}),
    sr: el("span", { class: "sr-only" }),
    title: el("h2", { dir: "auto" }, title),
    topic: el("p", { dir: "auto" }, String(room.topic || "")),
    guidelines: el("p", { class: "hint" }, t("rooms.guidelines_first")),
    languages: el("p", { class: "hint room-languages" }),
  };
  ui.button = el("button", { type: "button", class: "primary", onclick: () => enterRoom(room.id) }, ui.label, ui.sr);
  const li = el("li", { class: "card room-item", dataset: { room: room.id } },
    el("div", { class: "about" },
      ui.title,
      ui.topic,
      room.guidelines_required ? ui.guidelines : null,
      ui.languages,
      ...sessionEls(room),
      ui.status),
    ui.count, ui.button);
  li._ui = ui;
  return li;
}

function updateRoomItem(li, room) {
  const ui = li?._ui;
  if (!ui) return;
  const title = String(room.title || room.id);
  const closed = room.mode === "closed";
  const status = hostStatus(room.hosts, room.mode, room.opens_at);
  ui.status.className = "room-status" + (status ? " " + status.kind : "");
  ui.status.replaceChildren(...statusEls(status));
  ui.status.hidden = !status;
  ui.count.textContent = peopleHere(room.members);
  ui.count.hidden = closed;
  li.classList.toggle("is-closed", closed);
  // A closed room cannot be joined: its button says what it does (shows when it opens).
  ui.button.className = closed ? "" : "primary";
  ui.label.textContent = closed ? t("rooms.opening_times") : t("rooms.join");
  ui.sr.textContent = " " + (closed ? t("rooms.opening_times_for", { room: title }) : title);
  // The room's own words come in the language asked for (?lang=), when the room has them.
  ui.title.textContent = title;
  ui.topic.textContent = String(room.topic || "");
  if (room.lang) ui.title.lang = ui.topic.lang = String(room.lang);
  ui.guidelines.textContent = t("rooms.guidelines_first");
  const read = hostLanguages(room.languages);
  ui.languages.textContent = read ? t("rooms.hosts_read", { languages: read }) : "";
  ui.languages.hidden = !read;
}

/** "English, Español": the languages a room's hosts read, each in its own name. */
function hostLanguages(codes) {
  if (!Array.isArray(codes) || !codes.length) return "";
  const names = languageNames();
  return codes.map((code) => {
    const c = String(code);
    if (names[c]) return names[c];
    try {
      return new Intl.DisplayNames([c], { type: "language" }).of(c) || c;
    } catch {
      return c;
    }
  }).join(", ");
}

// ---- a closed room ---------------------------------------------------------------
function showClosed(roomId, opensAt, said = "") {
  if (!roomId) {
    showRooms();
    return;
  }
  if (state.joinedRoom) socket.send({ type: "leave", room: state.joinedRoom });
  // The server just said so: that beats a room list fetched before the room closed.
  state.roomInfo.set(roomId, { ...(state.roomInfo.get(roomId) || { id: roomId }), mode: "closed", opens_at: opensAt ?? null });
  state.room = null;
  ss.remove("cs.room");
  resetRoom();
  state.closed = { room: roomId, opensAt: opensAt ?? null, said };
  renderClosed();
  showView("closed");
  loadRooms();
}

function renderClosed() {
  const c = state.closed;
  if (!c) return;
  const info = state.roomInfo.get(c.room);
  const openNow = Boolean(info && info.mode && info.mode !== "closed");
  const opensAt = info?.mode === "closed" && info.opens_at ? info.opens_at : c.opensAt;
  const title = roomTitle(c.room);
  $("#closed-title").replaceChildren(...tParts(openNow ? "closed.title_open" : "closed.title", { room: el("bdi", { id: "closed-room" }, title) }));
  const said = $("#closed-said");
  said.textContent = c.said;
  said.hidden = !c.said || openNow;
  const when = dayAndTime(opensAt);
  $("#closed-when").replaceChildren(...(openNow
    ? [t("closed.just_opened")]
    : when
      ? tParts("closed.opens_at", { when: el("strong", {}, when), relative: relativeText(new Date(opensAt)) })
      : [t("closed.opens_unknown")]));
  $("#closed-why").textContent = openNow ? "" : t("closed.why");
  $("#closed-why").hidden = openNow;
  const join = $("#closed-join");
  join.hidden = !openNow;
  join.replaceChildren(...tParts("closed.join", { room: el("bdi", {}, title) }));
  join.onclick = () => enterRoom(c.room);
  const open = [...state.roomInfo.values()].filter((r) => r.mode !== "closed" && r.id !== c.room);
  fillRoomList($("#closed-rooms"), open);
  $("#closed-none").hidden = open.length > 0 || !state.roomInfo.size;
}

function enterRoom(roomId) {
  if (state.joinedRoom && state.joinedRoom !== roomId) socket.send({ type: "leave", room: state.joinedRoom });
  resetRoom();
  state.room = roomId;
  ss.set("cs.room", roomId);
  if (!join(roomId)) flash(toast, t("room.not_connected_join"));
}

function join(roomId) {
  const frame = { type: "join", room: roomId };
  if (state.accepted.has(roomId)) frame.accept_guidelines = true;
  frame.browser = browserId();
  if (state.joinedRoom === roomId && state.lastId) frame.since = state.lastId;
  return socket.send(frame);
}

function leaveRoom(notice = "", { tellServer = true } = {}) {
  if (state.joinedRoom && tellServer) socket.send({ type: "leave", room: state.joinedRoom });
  state.room = null;
  ss.remove("cs.room");
  resetRoom();
  showRooms(notice);
}

function resetRoom() {
  state.joinedRoom = null;
  state.info = null;
  state.seen.clear();
  state.pending.clear();
  state.byId.clear();
  state.lastId = null;
  state.lastSeq = 0;
  stopTyping();
  state.resyncing = false;
  state.hosts = null;
  state.mode = "open";
  log.replaceChildren();
  $("#help-card").hidden = true;
  $("#room-flags").textContent = "";
  $("#peer-note").hidden = true;
  $("#library-open").hidden = true;
  $("#staff-here").hidden = true;
  state.about = null;
  renderHostStatus();
}

function showGuidelines(roomId, text) {
  const room = $("#guidelines-room");
  room.textContent = roomTitle(roomId);
  $("#guidelines-text").textContent = text || "";
  $("#guidelines-accept").dataset.room = roomId;
  showView("guidelines");
}

function roomTitle(roomId) {
  return state.roomTitles.get(roomId) || roomId;
}

// ---- the room --------------------------------------------------------------
function onJoined(j) {
  if (j.room !== state.room) {
    socket.send({ type: "leave", room: j.room });
    return;
  }
  const rejoin = state.joinedRoom === j.room && state.seen.size > 0;
  if (!rejoin && state.joinedRoom !== j.room) resetRoom();
  state.joinedRoom = j.room;
  state.info = j;
  state.resyncing = false;
  state.notJoinedRetries = 0;
  const items = (j.resources || []).filter((r) => r && typeof r === "object");
  if (items.length) state.resources = items;
  loadHints(j.room);
  // The room list's texts are in the person's language (GET /api/rooms?lang=); `joined` carries the
  // room's fallback language, so it is only used when the list has not been read.
  const listed = state.roomInfo.get(j.room);
  $("#room-title").textContent = (listed && listed.title) || j.title || j.room;
  $("#room-topic").textContent = (listed && "topic" in listed ? listed.topic : j.topic) || "";
  state.members = j.members;
  $("#member-count").textContent = peopleHere(j.members);
  // Hosts on duty come with `joined`; the mode is in the room list (and then in `mode` notices).
  state.hosts = j.hosts ?? null;
  const known = state.roomInfo.get(j.room);
  state.mode = known && known.mode !== "closed" ? known.mode : "open";
  renderHostStatus();
  if (!rejoin) {
    loadRooms();
    loadAbout(j.room);
  }
  const guidelines = $("#room-guidelines");
  $("#room-guidelines-text").textContent = j.guidelines || "";
  guidelines.hidden = !j.guidelines;
  renderRules(j.rules);
  if (j.warning) onWarning({ ...j.warning, room: j.room });
  else hideWarning();
  renderFlags({ slowmode: j.slowmode, locked: j.locked });
  renderHiddenList();

  const history = Array.isArray(j.history) ? j.history : [];
  if (rejoin && history.length && history[0].seq && state.lastSeq && history[0].seq > state.lastSeq + 1
      && !state.seen.has(history[0].id)) {
    system(t("room.missed"), "warn");
  }
  const wasNear = followingLog();
  for (const m of history) onMessage(m, true);
  const showing = !$("#view-room").hidden;
  showView("room", !showing);
  if (!rejoin || wasNear) scrollToBottom();
}

// The rest of a long replay after `joined`, page by page, before anything live.
function onHistory(h) {
  const wasNear = followingLog();
  for (const m of Array.isArray(h.messages) ? h.messages : []) onMessage(m, true);
  if (wasNear) scrollToBottom();
}

function isOwn(m) {
  return Boolean(m.from && state.sessions.has(m.from.session));
}

function onMessage(m, replay) {
  if (m.room !== state.joinedRoom || !m.id) return;
  if (state.seen.has(m.id)) return;
  if (!replay && m.seq && state.lastSeq && m.seq > state.lastSeq + 1 && !state.resyncing) {
    // A jump in seq: something was missed. Join again with `since` to get exactly that.
    state.resyncing = true;
    join(state.joinedRoom);
  }
  const wasNear = followingLog();
  const own = isOwn(m);
  let entry = state.byId.get(m.id);
  if (!entry && own) {
    entry = [...state.pending.values()].find(
      (p) => !p.id && (p.status === "sending" || p.status === "interrupted") && p.text === m.text);
  }
  let node;
  if (entry) {
    node = entry.el;
    adopt(node, m);
    state.byId.delete(m.id);
    if (entry.id === m.id) {
      state.pending.delete(entry.cid); // acked already
    } else {
      // Shown before its ack (the server shows its own members a message once it is recorded): the
      // ack still settles it, or the server takes it back and its error offers to try again.
      entry.id = m.id;
      entry.status = "shown";
    }
    setStatus(node, "sent", entry.status === "held" ? tEl("span", {}, "send.posted_after_look") : tEl("span", {}, "send.sent"));
  } else {
    node = renderMessage(m, own);
  }
  node.dataset.id = m.id;
  if (m.seq) node.dataset.seq = String(m.seq);
  place(node, m.seq);
  state.seen.set(m.id, node);
  if (!m.seq || m.seq >= state.lastSeq) {
    state.lastSeq = m.seq || state.lastSeq;
    state.lastId = m.id;
  }
  if (m.from?.name && state.typing.has(m.from.name)) stopTyping(m.from.name);
  const hiddenPerson = m.from && state.hidden[m.from.session];
  node.hidden = Boolean(hiddenPerson && !own);
  if (!replay) {
    if (!own && !hiddenPerson) {
      node.classList.add("new");
      announce(m);
    }
    if (wasNear || own) scrollToBottom();
    else $("#jump").hidden = false;
  }
}

const LOG_KEEP = 500; // messages kept on screen; older ones are dropped so long evenings stay fast

function place(node, seq) {
  // Keep server order even when a resync fills a gap: insert before the first later message.
  // Own messages still waiting stay at the very end, after everything published.
  let before = null;
  for (let other = log.lastElementChild; other; other = other.previousElementSibling) {
    if (other === node) continue;
    if (other.classList.contains("pending")) {
      before = other;
      continue;
    }
    if (!seq) break;
    const otherSeq = Number(other.dataset.seq || 0);
    if (!otherSeq) continue; // a system line: look further back
    if (otherSeq < seq) break;
    before = other;
  }
  log.insertBefore(node, before);
  while (state.seen.size > LOG_KEEP && log.firstElementChild) {
    const oldest = log.firstElementChild;
    if (oldest.dataset.id) state.seen.delete(oldest.dataset.id);
    oldest.remove();
  }
}

function renderMessage(m, own) {
  const role = m.from?.role;
  const staff = role === "host" || role === "admin";
  const name = String(m.from?.name ?? t("msg.someone"));
  const node = el("article", {
    class: "msg" + (own ? " own" : "") + (staff ? " host" : ""),
    dataset: { session: m.from?.session || "" },
  });
  const [toggle, actions] = own ? [null, null] : toolsEl(node, m, name);
  node.append(el("header", { class: "msg-head" },
    own ? tEl("span", { class: "name" }, "msg.you") : nameEl(name),
    ...badgeEls(m.from),
    timeEl(m.ts), toggle));
  node.append(bodyEl(m.text, m.cw, own));
  if (actions) node.append(actions);
  return node;
}

function bodyEl(text, cw, own) {
  const body = el("div", { class: "msg-body" });
  const textNode = textEl(text);
  if (cw) {
    const id = "t" + newId();
    textNode.id = id;
    textNode.hidden = !own;
    const button = tEl("button", { type: "button", "aria-expanded": String(own), "aria-controls": id }, own ? "msg.hide" : "msg.show");
    button.addEventListener("click", () => {
      const open = textNode.hidden;
      textNode.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      translate(button, open ? "msg.hide" : "msg.show");
    });
    body.append(el("div", { class: "cw" }, tEl("span", {}, "msg.cw", { label: el("bdi", {}, String(cw)) }), button));
  }
  body.append(textNode);
  return body;
}

function adopt(node, m) {
  // A pending bubble becomes the published message: real time, real text (it may have been redacted).
  node.classList.remove("pending");
  const time = node.querySelector("time");
  time?.replaceWith(timeEl(m.ts));
  const body = node.querySelector(".msg-body");
  body?.replaceWith(bodyEl(m.text, m.cw, true));
}

function toolsEl(node, m, name) {
  const actionsId = "a" + newId();
  const toggle = el("button", {
    type: "button", class: "quiet more", "aria-expanded": "false", "aria-controls": actionsId,
  }, "⋯");
  translateAttr(toggle, "aria-label", "msg.options", { name });
  const actions = el("div", { class: "msg-actions", id: actionsId, hidden: true },
    tEl("button", { type: "button", class: "link", onclick: () => openReport(node, m) }, "msg.report"),
    tEl("button", { type: "button", class: "link", onclick: () => hidePerson(m.from?.session, name) },
      "msg.hide_person", { name: el("bdi", {}, name) }));
  toggle.addEventListener("click", () => {
    const open = actions.hidden;
    actions.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  });
  return [toggle, actions];
}

function openReport(node, m) {
  if (node.querySelector(".report-form")) return;
  const inputId = "r" + newId();
  const input = el("input", { id: inputId, type: "text", maxlength: "500", autocomplete: "off" });
  const form = el("form", { class: "report-form" },
    tEl("label", { for: inputId }, "report.label"),
    input,
    el("div", { class: "row" },
      tEl("button", { type: "submit", class: "primary" }, "report.send"),
      tEl("button", { type: "button", onclick: () => form.remove() }, "action.cancel")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const sent = socket.send({ type: "report", room: state.joinedRoom, message_id: m.id, reason: input.value.trim() });
    form.replaceWith(tEl("p", { class: "status" }, sent ? "report.sending" : "report.offline"));
    if (sent) state.reportTarget = node;
  });
  node.append(form);
  input.focus();
}

function hidePerson(session, name) {
  if (!session) return;
  state.hidden[session] = name;
  ls.set("cs.hidden", state.hidden);
  applyHidden();
  renderHiddenList();
  flash(toast, t("hide.done", { name }));
  $("#composer-text").focus();
}

function unhidePerson(session) {
  delete state.hidden[session];
  ls.set("cs.hidden", state.hidden);
  applyHidden();
  renderHiddenList();
}

function applyHidden() {
  for (const node of log.querySelectorAll("article.msg:not(.own)")) {
    node.hidden = Boolean(state.hidden[node.dataset.session]);
  }
}

function renderHiddenList() {
  const entries = Object.entries(state.hidden);
  const list = $("#hidden-list");
  list.replaceChildren(...entries.map(([session, name]) => el("li", {},
    nameEl(name), " ",
    tEl("button", { type: "button", class: "link", onclick: () => unhidePerson(session) }, "hide.undo"))));
  $("#hidden-people").hidden = entries.length === 0;
}

// ---- sending ---------------------------------------------------------------
function sendMessage(text, cw) {
  const cid = newId();
  const node = el("article", { class: "msg own pending", dataset: { session: state.session || "" } },
    el("header", { class: "msg-head" }, tEl("span", { class: "name" }, "msg.you"), timeEl()),
    bodyEl(text, cw, true));
  const entry = { cid, text, cw, el: node, status: "sending", id: null };
  state.pending.set(cid, entry);
  log.append(node);
  scrollToBottom();
  transmit(entry);
}

function transmit(entry) {
  const frame = { type: "send", room: state.joinedRoom, text: entry.text, client_id: entry.cid };
  if (entry.cw) frame.cw = entry.cw;
  entry.status = "sending";
  if (socket.send(frame)) {
    setStatus(entry.el, "", tEl("span", {}, "send.sending"));
  } else {
    entry.status = "interrupted";
    setStatus(entry.el, "failed", tEl("span", {}, "send.offline"), { label: "send.again", action: () => resend(entry) });
  }
}

function resend(entry) {
  state.pending.delete(entry.cid);
  if (entry.id) {
    // Shown once and taken back: it goes again as a new message.
    state.seen.delete(entry.id);
    entry.id = null;
    delete entry.el.dataset.id;
    delete entry.el.dataset.seq;
  }
  entry.cid = newId();
  state.pending.set(entry.cid, entry);
  log.append(entry.el);
  transmit(entry);
}

function editAgain(entry) {
  state.pending.delete(entry.cid);
  entry.el.remove();
  const box = $("#composer-text");
  box.value = entry.text;
  if (entry.cw) {
    setCw(true);
    $("#cw-input").value = entry.cw;
  }
  box.focus();
}

function setStatus(node, kind, text, button) {
  let status = node.querySelector(":scope > .status");
  if (!status) {
    status = el("p", { class: "status" });
    node.append(status);
  }
  status.className = "status" + (kind ? " " + kind : "");
  status.replaceChildren(text);
  if (button) status.append(" ", tEl("button", { type: "button", class: "link", onclick: button.action }, button.label));
  return status;
}

const HELD_TEXT = { crisis: "held.crisis", premoderate: "held.premoderate" };

function onAck(a) {
  const entry = state.pending.get(a.client_id);
  if (!entry) return;
  if (a.status === "published") {
    if (entry.status === "shown") {
      state.pending.delete(a.client_id);
      return;
    }
    const shown = state.seen.get(a.id);
    if (shown && shown !== entry.el) {
      entry.el.remove();
      setStatus(shown, "sent", tEl("span", {}, "send.sent"));
    } else {
      entry.id = a.id;
      entry.status = "published";
      state.byId.set(a.id, entry);
      entry.el.dataset.id = a.id;
      setStatus(entry.el, "sent", tEl("span", {}, "send.sent"));
    }
    state.pending.delete(a.client_id);
  } else if (a.status === "held") {
    entry.id = a.id;
    entry.status = "held";
    state.byId.set(a.id, entry);
    state.pending.delete(a.client_id);
    // The crisis filter sends the resources just before this ack; the first reason may be another filter's.
    const crisis = a.reason === "crisis" || Date.now() - state.helpShownAt < 3000;
    if (a.hosted === false) {
      // The server's words say honestly that no host is here and where help is now.
      setStatus(entry.el, "held", ackSpan(a, "held.unhosted"), { label: "help.open", action: openHelp });
      if (crisis && !$("#help-card").hidden && !state.card?.draft) $("#help-card-foot").textContent = t("card.foot_unhosted");
      return;
    }
    setStatus(entry.el, "held", tEl("span", {}, HELD_TEXT[crisis ? "crisis" : a.reason] || "held.default"));
    if (crisis && a.hosted === true && !$("#help-card").hidden && !state.card?.draft) {
      $("#help-card-foot").textContent = t("card.foot");
    }
  } else {
    entry.status = "rejected";
    entry.el.classList.remove("pending"); // settled: later messages go below it
    const reason = ackSpan(a, reasonKey(a.reason));
    setStatus(entry.el, "failed", notPosted(reason, a.retry_after), { label: "send.edit_again", action: () => editAgain(entry) });
  }
}

/** "Not posted: <why>", and when one may try again. */
function notPosted(reason, retryAfter) {
  const node = tEl("span", {}, "send.not_posted", { reason });
  if (!retryAfter) return node;
  return el("span", {}, node, " ", tEl("span", {}, "send.retry_in", { seconds: Math.ceil(retryAfter) }));
}

/**
 * An ack's words: by its `code` where the catalogs know it; else, in English, the server's `message`
 * (a filter's own explanation says more), and in any other language the page's words for the case
 * (`fallbackKey`), never English words in a Spanish page. Either follows a change of language.
 */
function ackSpan(a, fallbackKey) {
  if (a.code && has("code." + a.code)) return serverSpan({ ...a, text: a.message }, t(fallbackKey));
  const node = tEl("span", {}, fallbackKey);
  if (a.message && lang() === "en") node.textContent = String(a.message);
  return node;
}

function reasonKey(reason) {
  return ["rate_limit", "max_length", "blocklist", "links"].includes(reason) ? "reason." + reason : "reason.default";
}

function onResolved(r) {
  const entry = state.byId.get(r.id);
  const node = entry?.el || state.seen.get(r.id);
  if (!node) return;
  if (r.action === "released") {
    if (entry) entry.status = "held";
    if (state.seen.has(r.id)) setStatus(node, "sent", tEl("span", {}, "send.posted_after_look"));
    else setStatus(node, "sent", tEl("span", {}, "send.being_posted"));
  } else {
    state.byId.delete(r.id);
    const status = setStatus(node, "failed", tEl("span", {}, "send.not_shared"));
    if (r.note) status.append(" ", tEl("span", { class: "hint" }, "send.their_note", { note: el("bdi", {}, String(r.note)) }));
    node.classList.remove("pending");
  }
}

function onDeleted(d) {
  const node = state.seen.get(d.id);
  if (!node) return;
  const mine = [...state.pending.values()].find((p) => p.status === "shown" && p.id === d.id);
  if (mine) {
    // Our own message, shown and then taken back before it went out: its answer follows (an error
    // offering to try again), so the words stay where the person can send them again.
    mine.status = "sending";
    node.classList.add("pending");
    setStatus(node, "", tEl("span", {}, "send.sending"));
    return;
  }
  const body = node.querySelector(".msg-body");
  const why = d.reason === "not_delivered" ? "msg.not_delivered" : "msg.removed";
  body?.replaceWith(el("div", { class: "msg-body" }, tEl("p", { class: "text" }, why)));
  node.querySelector(".more")?.remove();
  node.querySelector(".msg-actions")?.remove();
  node.classList.add("removed");
}

// ---- presence, typing, notices, errors ------------------------------------
function onPresence(p) {
  if (p.room !== state.joinedRoom) return;
  state.members = p.members;
  $("#member-count").textContent = peopleHere(p.members);
  if ("hosts" in p) {
    state.hosts = p.hosts;
    renderHostStatus();
  }
  if (Array.isArray(p.staff)) {
    state.staff = p.staff;
    renderStaff(p.staff);
  }
  if (p.joined && p.joined !== state.name) {
    const badge = p.title ? [" ", titleBadge(p.title, p.professional)] : [];
    system(tEl("span", {}, "room.joined", { name: el("span", {}, nameEl(p.joined), ...badge) }));
  }
  if (p.left && p.left !== state.name) {
    system(tEl("span", {}, "room.left", { name: nameEl(p.left) }));
    if (state.typing.has(p.left)) stopTyping(p.left);
  }
}

function onTyping(t) {
  if (t.room !== state.joinedRoom || !t.name || t.name === state.name) return;
  if (Object.values(state.hidden).includes(t.name)) return;
  clearTimeout(state.typing.get(t.name));
  const timer = setTimeout(() => {
    if (state.typing.get(t.name) === timer) stopTyping(t.name);
  }, TYPING_SHOW_FOR);
  state.typing.set(t.name, timer);
  renderTyping();
}

function stopTyping(name) {
  if (name === undefined) {
    for (const timer of state.typing.values()) clearTimeout(timer);
    state.typing.clear();
  } else {
    clearTimeout(state.typing.get(name));
    state.typing.delete(name);
  }
  renderTyping();
}

function renderTyping() {
  const names = [...state.typing.keys()];
  const line = $("#typing");
  if (names.length === 0) line.replaceChildren();
  else if (names.length === 1) line.replaceChildren(tEl("span", {}, "room.typing_one", { name: nameEl(names[0]) }));
  else if (names.length === 2) {
    line.replaceChildren(tEl("span", {}, "room.typing_two", { name: nameEl(names[0]), other: nameEl(names[1]) }));
  } else line.replaceChildren(tEl("span", {}, "room.typing_many"));
}

/** The room's header says, live, who is looking after it: "1 host here", "No host right now — read-only". */
function renderHostStatus() {
  const node = $("#host-status");
  const status = state.joinedRoom ? hostStatus(state.hosts, state.mode) : null;
  node.className = "host-status" + (status ? " " + status.kind : "");
  node.replaceChildren(...statusEls(status));
  node.hidden = !status;
  $("#composer-text").placeholder = state.mode === "read_only"
    ? t("room.read_only_placeholder") : t("composer.placeholder");
}

function renderFlags({ slowmode, locked, muted }) {
  const flags = [];
  if (locked) flags.push(t("room.locked"));
  if (slowmode) flags.push(t("room.slowmode", { seconds: slowmode }));
  if (muted) flags.push(muted);
  $("#room-flags").textContent = flags.join(" ");
}

function onNotice(n) {
  if (n.code === "broker_degraded" || n.code === "broker_ok") {
    state.degraded = n.code === "broker_degraded";
    renderConnection();
    return;
  }
  if (n.room && n.room !== state.joinedRoom && n.room !== state.room) return;
  const text = serverText(n);
  switch (n.code) {
    case "mode": {
      const room = n.room || state.joinedRoom;
      const known = state.roomInfo.get(room);
      if (known) state.roomInfo.set(room, { ...known, mode: n.mode, opens_at: n.opens_at ?? null });
      if (n.mode === "closed") {
        showClosed(room, n.opens_at ?? null, text);
        return;
      }
      state.mode = n.mode;
      renderHostStatus();
      system(serverSpan(n), "mode");
      announceText(text);
      return;
    }
    case "removed":
    case "room_closed":
      leaveRoom(n.reason ? t("rooms.host_said", { text, reason: String(n.reason) }) : text, { tellServer: false });
      return;
    case "report_sent":
      flash(toast, text || t("report.thanks"));
      if (state.reportTarget) {
        setStatus(state.reportTarget, "", tEl("span", {}, "report.done"));
        state.reportTarget = null;
      }
      return;
    case "slowmode":
    case "locked":
      if (state.info) {
        if ("slowmode" in n) state.info.slowmode = n.slowmode;
        if ("locked" in n) state.info.locked = n.locked;
        renderFlags(state.info);
      }
      system(serverSpan(n), "warn");
      return;
    case "muted":
      renderFlags({ ...(state.info || {}), muted: text });
      system(serverSpan(n), "warn");
      return;
    case "unmuted":
      renderFlags(state.info || {});
      system(serverSpan(n));
      return;
    case "acknowledged":
      hideWarning();
      system(serverSpan(n));
      return;
    case "not_shared": {
      const wasNear = followingLog();
      log.append(notSharedEl(n));
      if (wasNear) scrollToBottom();
      announceText(t("announce.not_shared"));
      return;
    }
    default:
      if (state.joinedRoom) system(serverSpan(n), n.level === "info" ? "" : "warn");
      else flash(toast, text);
  }
}

function onError(e) {
  if (!socket.welcomed) {
    // The hello was refused (usually the name): say so and let the person fix it.
    socket.stop();
    showName(serverText(e, t("name.refused")));
    return;
  }
  if (e.code === "warned" && e.warning) onWarning({ ...e.warning, room: e.room || state.joinedRoom });
  const entry = e.ref !== undefined ? state.pending.get(e.ref) : null;
  if (entry) {
    entry.status = "rejected";
    if (e.code !== "unavailable") entry.el.classList.remove("pending");
    const retry = e.code === "unavailable"
      ? { label: "send.try_again", action: () => resend(entry) }
      : { label: "send.edit_again", action: () => editAgain(entry) };
    setStatus(entry.el, "failed", notPosted(serverSpan(e), e.code !== "muted" && e.retry_after), retry);
    return;
  }
  switch (e.code) {
    case "closed":
      showClosed(e.room || state.room, e.opens_at ?? null);
      return;
    case "guidelines_required":
      showGuidelines(e.room || state.room, e.guidelines);
      renderRules(e.rules, "#guidelines-text", "guidelines-rules");
      return;
    case "name_taken":
    case "banned":
    case "unknown_room":
      state.room = null;
      ss.remove("cs.room");
      resetRoom();
      showRooms(e.code === "name_taken"
        ? t("rooms.name_taken", { message: serverText(e) })
        : e.code === "banned" ? t("rooms.banned") : t("rooms.gone"));
      return;
    case "not_joined":
      if (state.room && state.notJoinedRetries < 3) {
        state.notJoinedRetries += 1;
        join(state.room);
        return;
      }
      break;
    default:
      break;
  }
  if (state.joinedRoom) system(serverSpan(e), "warn");
  else flash(toast, serverText(e));
}

function system(content, kind = "") {
  const node = el("p", { class: "sys" + (kind ? " " + kind : "") }, content);
  const wasNear = followingLog();
  const firstPending = [...log.children].find((c) => c.classList.contains("pending"));
  if (firstPending) log.insertBefore(node, firstPending);
  else log.append(node);
  if (wasNear) scrollToBottom();
}

function announce(m) {
  announceText(...tParts("announce.message", {
    name: String(m.from?.name ?? t("msg.someone")),
    text: m.cw ? t("announce.cw", { label: String(m.cw) }) : String(m.text ?? ""),
  }));
}

function announceText(...parts) {
  const region = $("#announce");
  region.append(el("p", {}, ...parts));
  while (region.children.length > 3) region.firstChild.remove();
}

// A host's warning (issue 16): in place of the message box until "I understand".
function onWarning(w) {
  if (w.room && w.room !== state.joinedRoom) return;
  showWarning(w, () => socket.send({ type: "acknowledge", room: state.joinedRoom }));
  announceText(t("announce.warning"));
}

// A host's words to this person only (a welcome, a check-in): in the log, clearly marked as private.
function onPrivate(f) {
  if (f.room !== state.joinedRoom) return;
  const name = String(f.from?.name ?? t("msg.a_host"));
  const node = el("article", { class: "msg private" },
    el("header", { class: "msg-head" },
      nameEl(name), tEl("span", { class: "badge" }, "msg.host_badge"), tEl("span", { class: "badge private-badge" }, "msg.private"),
      timeEl(f.ts)),
    el("div", { class: "msg-body" }, textEl(f.text)),
    tEl("p", { class: "status private-note" }, "msg.private_note"));
  const wasNear = followingLog();
  const firstPending = [...log.children].find((c) => c.classList.contains("pending"));
  log.insertBefore(node, firstPending || null);
  if (wasNear) scrollToBottom();
  else $("#jump").hidden = false;
  announceText(t("announce.private", { name, text: String(f.text ?? "") }));
}

// ---- who is who, and good information (issue 20) ----------------------------------------------
/** The titled hosts on duty, from presence: "With us now: Sam, Registered counsellor". */
function renderStaff(staff) {
  const line = $("#staff-here");
  const people = staff.filter((s) => s && s.name && s.title);
  const who = el("span", {}, ...people.flatMap((s, i) => [i ? ", " : "", nameEl(s.name), " ", titleBadge(s.title, s.professional)]));
  line.replaceChildren(...(people.length ? tParts("room.staff_here", { people: who }) : []));
  line.hidden = !people.length;
}

/** The room's cards and its peer note; the note is shown once, on the first room joined in this tab. */
async function loadAbout(roomId) {
  const about = await fetchAbout(roomId);
  if (!about || state.joinedRoom !== roomId) return;
  state.about = about;
  $("#library-open").hidden = about.cards.length === 0;
  if (!ss.get("cs.noted")) {
    ss.set("cs.noted", true);
    $("#peer-note-text").textContent = about.peer_note;
    $("#peer-note").hidden = false;
  }
}

function openLibrary() {
  const cards = state.about?.cards || [];
  $("#library-list").replaceChildren(...cards.map((c) => cardEl(c)));
  $("#library-dialog").showModal();
  $("#library-title").focus();
}

// A card a host shared from the library: in the log, as a card (never a raw link), announced politely.
function onCard(f) {
  if (f.room !== state.joinedRoom || !f.card) return;
  const wasNear = followingLog();
  const firstPending = [...log.children].find((c) => c.classList.contains("pending"));
  log.insertBefore(pushedCardEl(f), firstPending || null);
  if (wasNear) scrollToBottom();
  else $("#jump").hidden = false;
  announceText(t("announce.card", { name: String(f.from?.name ?? t("msg.a_host")), title: String(f.card.title ?? "") }));
}

// ---- help ------------------------------------------------------------------
// The card's words: card.foot promises a host soon, so with nobody on duty card.foot_unhosted says so
// instead, and that the people listed are there now (never promise a host who is not there).

function showHelpCard(r, { draft = false } = {}) {
  const items = (r.items || []).filter((i) => i);
  if (items.length && !draft) state.resources = items;
  if (!draft) state.helpShownAt = Date.now();
  state.card = { items: items.length ? items : null, draft, why: r.why || null, code: r.code || null };
  const card = $("#help-card");
  card.hidden = false;
  renderCard();
  // After a crisis message #help-card-why is an alert: filling it after the box is shown is what gets
  // announced. A draft offer is only polite, so as not to interrupt someone who is typing.
  $("#help-card-why").setAttribute("role", draft ? "status" : "alert");
  renderCardWords();
  card.scrollIntoView({ block: "nearest" });
}

/** The support box's words, again after a change of language (the server's `why` only by its code). */
function renderCardWords() {
  const c = state.card;
  if (!c) return;
  $("#help-card-foot").textContent = c.draft ? t("card.draft_foot") : state.hosts === 0 ? t("card.foot_unhosted") : t("card.foot");
  $("#help-card-note").textContent = state.about?.peer_note || peerNoteFallback();
  // The server's `why` is English: in another language the catalog's words, unless its code is known.
  const why = c.draft ? t("card.draft_why")
    : c.why && (lang() === "en" || has("code." + c.code)) ? serverText({ code: c.code, text: c.why }, t("card.why")) : t("card.why");
  $("#help-card-why").textContent = why;
}

function renderCard() {
  if (!state.card) return;
  renderHelplines(state.card.items || fallbackResources(), $("#card-country"), $("#card-where"), $("#help-card-list"));
}

function renderHelplines(items, select, where, list) {
  fillCountrySelect(select, items, state.country);
  where.hidden = resourceCountries(items).length === 0;
  list.replaceChildren(helplinesEl(items, state.country));
}

function helpItems() {
  return state.resources.length ? state.resources : fallbackResources();
}

function openHelp() {
  renderHelplines(helpItems(), $("#help-country"), $("#help-where"), $("#help-list"));
  $("#help-note").textContent = state.about?.peer_note || peerNoteFallback();
  if (!state.about) fetchAbout().then((a) => { if (a && !state.about) $("#help-note").textContent = a.peer_note; });
  $("#help-dialog").showModal();
  // The title, not Close: focusing the last button would open a long list scrolled to its end.
  $("#help-title").focus();
}

function chooseCountry(code) {
  state.country = code;
  ls.set("cs.country", code); // this browser only: it is never sent to the server
  if ($("#help-dialog").open) $("#help-list").replaceChildren(helplinesEl(helpItems(), code));
  if (!$("#help-card").hidden) renderCard();
}

// ---- while typing: offer help before a crisis-like draft is sent ------------------------------
// The patterns come from the server once per room (GET /api/crisis-hints); the draft itself is
// only ever tested here, in the page. Nothing is sent, and sending is never held up.
async function loadHints(roomId) {
  if (state.hintsRoom === roomId) return;
  state.hintsRoom = roomId;
  state.hints = [];
  let patterns;
  try {
    const response = await fetch("/api/crisis-hints?room=" + encodeURIComponent(roomId), { credentials: "same-origin" });
    if (!response.ok) return;
    patterns = (await response.json()).patterns;
  } catch {
    return; // no offer while typing; everything else works as before
  }
  if (state.hintsRoom !== roomId || !Array.isArray(patterns)) return;
  state.hints = patterns.map(compileHint).filter(Boolean);
}

function compileHint(source) {
  for (const flags of ["iu", "i"]) {
    try {
      return new RegExp(String(source), flags);
    } catch {
      /* not valid with these flags: try the next */
    }
  }
  return null;
}

/** Lowercased, accents stripped, typographic apostrophes made plain: what the patterns expect. */
function foldDraft(text) {
  return text.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[\u2018\u2019\u02bc]/g, "'");
}

function checkDraft() {
  const text = $("#composer-text").value;
  if (state.draftOffered || !text.trim() || !state.joinedRoom || !state.hints.length) return;
  const folded = foldDraft(text);
  if (!state.hints.some((re) => re.test(folded))) return;
  state.draftOffered = true;
  if (!$("#help-card").hidden) return; // the box is already there
  showHelpCard({ items: state.resources }, { draft: true });
}

// ---- leaving quickly: exit.js (wired before anything else loads); the connection closes on the way
onQuickExit(() => socket.stop());

// ---- scrolling -------------------------------------------------------------
function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
}

function followingLog() {
  // `atBottom` is kept by the scroll handler; also true when the log does not scroll at all.
  return state.atBottom || log.scrollHeight <= log.clientHeight + 80;
}

function scrollToBottom() {
  log.scrollTop = log.scrollHeight;
  state.atBottom = true;
  $("#jump").hidden = true;
}

// ---- wiring ----------------------------------------------------------------
function setCw(open, { keep = false } = {}) {
  $("#cw-row").hidden = !open;
  const toggle = $("#cw-toggle");
  toggle.setAttribute("aria-expanded", String(open));
  translate(toggle, open ? "cw.remove" : "cw.add");
  if (!open && !keep) $("#cw-input").value = "";
}

function wire() {
  $("#name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("#name-input").value.trim();
    if (!name) {
      $("#name-error").textContent = t("name.empty");
      $("#name-input").focus();
      return;
    }
    if ([...name].length > 32) {
      $("#name-error").textContent = t("name.too_long");
      return;
    }
    state.name = name;
    ss.set("cs.name", name);
    $("#name-error").textContent = "";
    socket.stop();
    socket.start();
    showRooms();
  });
  $("#change-name").addEventListener("click", () => showName());
  $("#guidelines-accept").addEventListener("click", () => {
    const roomId = $("#guidelines-accept").dataset.room;
    state.accepted.add(roomId);
    ss.set("cs.accepted", [...state.accepted]);
    enterRoom(roomId);
  });
  $("#guidelines-back").addEventListener("click", () => leaveRoom());
  $("#back-rooms").addEventListener("click", () => leaveRoom());
  $("#closed-back").addEventListener("click", () => showRooms());
  $("#closed-help").addEventListener("click", openHelp);
  $("#help-open").addEventListener("click", openHelp);
  $("#help-close").addEventListener("click", () => $("#help-dialog").close());
  $("#help-country").addEventListener("change", (event) => chooseCountry(event.target.value));
  $("#card-country").addEventListener("change", (event) => chooseCountry(event.target.value));
  $("#help-card-close").addEventListener("click", () => {
    $("#help-card").hidden = true;
    $("#composer-text").focus();
  });
  $("#library-open").addEventListener("click", openLibrary);
  $("#library-close").addEventListener("click", () => $("#library-dialog").close());
  $("#peer-note-help").addEventListener("click", openHelp);
  $("#peer-note-ok").addEventListener("click", () => {
    $("#peer-note").hidden = true;
    $("#composer-text").focus();
  });
  $("#jump").addEventListener("click", () => {
    scrollToBottom();
    $("#composer-text").focus();
  });
  log.addEventListener("scroll", () => {
    state.atBottom = nearBottom();
    if (state.atBottom) $("#jump").hidden = true;
  });
  // When the log gets shorter (the help box opens, a phone keyboard appears), keep the newest message in view.
  new ResizeObserver(() => {
    if (state.atBottom) log.scrollTop = log.scrollHeight;
  }).observe(log);
  $("#cw-toggle").addEventListener("click", () => {
    const open = $("#cw-row").hidden;
    setCw(open);
    if (open) $("#cw-input").focus();
  });
  const box = $("#composer-text");
  box.addEventListener("keydown", (event) => {
    // On touch screens Enter makes a new line, as people expect there; the Send button sends.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !coarsePointer.matches) {
      event.preventDefault();
      $("#composer").requestSubmit();
    }
  });
  box.addEventListener("input", () => {
    clearTimeout(state.draftTimer);
    if (box.value.trim()) state.draftTimer = setTimeout(checkDraft, DRAFT_CHECK_AFTER);
    else state.draftOffered = false; // an empty box ends the draft: the next one may be offered help again
    const now = Date.now();
    if (state.joinedRoom && box.value.trim() && now - state.lastTypingSent > TYPING_SEND_EVERY) {
      state.lastTypingSent = now;
      socket.send({ type: "typing", room: state.joinedRoom });
    }
  });
  $("#composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = box.value;
    if (!text.trim() || !state.joinedRoom) return;
    const cw = $("#cw-row").hidden ? "" : $("#cw-input").value.trim();
    box.value = "";
    setCw(false);
    state.lastTypingSent = 0;
    clearTimeout(state.draftTimer);
    state.draftOffered = false;
    sendMessage(text, cw);
    box.focus();
  });
}

// ---- a change of language: every word on screen changes, the conversation stays -------------
// Words kept in data-i18n attributes re-translate themselves (i18n.js); what is drawn from state is
// drawn again; the room's own texts are fetched again in the new language (?lang=), and the next
// connection says hello in it.
function onLanguage() {
  // The server sends the room's own words (guidelines, helplines) in the new language: no reconnect.
  socket.send({ type: "lang", lang: lang() });
  renderConnection();
  if (!$("#view-rooms").hidden || !$("#view-closed").hidden || state.joinedRoom) loadRooms();
  if (!$("#view-guidelines").hidden) {
    // The room's title above its guidelines comes from the room list, read again in the new language.
    loadRooms().then(() => {
      if (!$("#view-guidelines").hidden && state.room) $("#guidelines-room").textContent = roomTitle(state.room);
    });
  }
  if (state.closed) renderClosed();
  if (state.joinedRoom) {
    $("#member-count").textContent = peopleHere(state.members);
    renderHostStatus();
    renderFlags(state.info || {});
    if (Array.isArray(state.staff)) renderStaff(state.staff);
    setCw(!$("#cw-row").hidden, { keep: true });
    const roomId = state.joinedRoom;
    fetchAbout(roomId).then((about) => {
      if (!about || state.joinedRoom !== roomId) return;
      state.about = about;
      $("#library-open").hidden = about.cards.length === 0;
      if (!$("#peer-note").hidden) $("#peer-note-text").textContent = about.peer_note;
      if ($("#library-dialog").open) $("#library-list").replaceChildren(...about.cards.map((c) => cardEl(c)));
      renderCardWords();
      $("#help-note").textContent = about.peer_note;
    });
  }
  if (state.card && !$("#help-card").hidden) {
    renderCard();
    renderCardWords();
  }
  if ($("#help-dialog").open) {
    renderHelplines(helpItems(), $("#help-country"), $("#help-where"), $("#help-list"));
    $("#help-note").textContent = state.about?.peer_note || peerNoteFallback();
  }
  for (const time of document.querySelectorAll("#log time[datetime]")) time.replaceWith(timeEl(time.getAttribute("datetime")));
}

/** The server's answer to a change of language: each joined room's own words in it. */
function onLangFrame(f) {
  const words = f.rooms && state.joinedRoom ? f.rooms[state.joinedRoom] : null;
  if (words) {
    if (state.info) state.info = { ...state.info, guidelines: words.guidelines, lang: words.lang };
    $("#room-guidelines-text").textContent = words.guidelines || "";
    $("#room-guidelines").hidden = !words.guidelines;
    const items = (words.resources || []).filter((r) => r && typeof r === "object");
    if (items.length) state.resources = items;
    if ($("#help-dialog").open) renderHelplines(helpItems(), $("#help-country"), $("#help-where"), $("#help-list"));
  }
  // The guidelines asked for before joining come again, in the new language.
  if (!$("#view-guidelines").hidden && state.room && state.joinedRoom !== state.room) join(state.room);
}

mountPickers();
window.addEventListener("cs:language", onLanguage);
wire();
if (state.name) {
  socket.start();
  if (state.room) {
    $("#me-name").textContent = state.name;
    showView("rooms", false);
  } else {
    showRooms();
  }
} else {
  showName();
}
