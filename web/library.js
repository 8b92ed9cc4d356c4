// Who someone is, and good information (issue 20): badges, library cards, pushed cards and the
// room's words on what peer support is. Shared by the room and the host console. Everything from
// the server reaches the page as text nodes (see common.js); card links must be http(s).
import { dayAndTime, el, nameEl, tEl, textEl, timeEl } from "./common.js";
import { lang, t } from "./i18n.js";

/** What the product says about itself before a room is joined (the server's own words replace it). */
export function peerNoteFallback() {
  return t("peer.note");
}

const about = new Map(); // room id (or "") and language -> {cards, peer_note, professional_led}

/** A room's cards and peer note from GET /api/library (cached per page; null when it cannot be had). */
export async function fetchAbout(roomId = "") {
  const key = roomId + "|" + lang();
  if (about.has(key)) return about.get(key);
  try {
    const query = (roomId ? `?room=${encodeURIComponent(roomId)}&` : "?") + `lang=${encodeURIComponent(lang())}`;
    const response = await fetch(`/api/library${query}`, { credentials: "same-origin" });
    if (!response.ok) return null;
    const body = await response.json();
    // The built-in note (`peer_note_code`) is the server's English: the catalogs say it in any other
    // language. A room's own note is the room's words, in the language the server could find.
    const builtIn = body.peer_note_code === "peer_note" && lang() !== "en";
    const value = {
      cards: Array.isArray(body.cards) ? body.cards.filter((c) => c && typeof c === "object") : [],
      peer_note: builtIn ? peerNoteFallback() : String(body.peer_note || peerNoteFallback()),
      professional_led: Boolean(body.professional_led),
    };
    about.set(key, value);
    return value;
  } catch {
    return null;
  }
}

/** The badges beside a name: "host" for a host, and the title admins gave them (marked professional). */
export function badgeEls(from) {
  const role = from?.role;
  const out = [];
  if (role === "host" || role === "admin") out.push(tEl("span", { class: "badge" }, "msg.host_badge"));
  if (from?.title) out.push(titleBadge(from.title, from.professional));
  return out;
}

export function titleBadge(title, professional) {
  return el("span", {
    class: "badge title-badge" + (professional ? " pro" : ""),
    title: professional ? t("badge.pro_title") : t("badge.set_title"),
    "data-i18n-attr": professional ? "title:badge.pro_title" : "title:badge.set_title",
  }, el("bdi", {}, String(title)), professional ? el("span", { class: "sr-only" }, " ", tEl("span", {}, "badge.professional")) : null);
}

function safeUrl(url) {
  try {
    const parsed = new URL(String(url));
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function siteOf(url) {
  try {
    return new URL(url).hostname.replace(/^www\./, "");
  } catch {
    return "";
  }
}

/** One library card: title, a sentence or two, the link (its site named), tags. */
export function cardEl(card, { heading = "h3", extra = null } = {}) {
  const href = safeUrl(card.url);
  const tags = Array.isArray(card.tags) ? card.tags.map(String) : [];
  return el("article", { class: "lib-card", dataset: { card: String(card.id ?? "") } },
    el(heading, { class: "lib-title", dir: "auto" }, String(card.title ?? "")),
    textEl(card.text, "p", "lib-text"),
    href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", class: "lib-link" },
      tEl("span", {}, "library.read_more", { site: siteOf(href) }), el("span", { class: "sr-only" }, " ", tEl("span", {}, "library.new_tab"))) : null,
    tags.length ? el("ul", { class: "tags", "aria-label": t("library.topics"), "data-i18n-attr": "aria-label:library.topics" },
      tags.map((tag) => el("li", {}, tag))) : null,
    extra);
}

/** A card a host shared into the conversation: who shared it, then the card itself. */
export function pushedCardEl(frame) {
  const name = String(frame.from?.name ?? t("msg.a_host"));
  return el("article", { class: "msg shared-card", dataset: { id: String(frame.id ?? "") } },
    el("header", { class: "msg-head" }, nameEl(name), ...badgeEls(frame.from), timeEl(frame.ts)),
    tEl("p", { class: "shared-why" }, "library.shared"),
    cardEl(frame.card || {}, { heading: "h3" }));
}

/** The room list's line for a professional-led room: what it is and when the next sessions are. */
export function sessionEls(room) {
  if (!room.professional_led) return [];
  const sessions = Array.isArray(room.sessions) ? room.sessions.slice(0, 2) : [];
  const when = sessions.map((s) => dayAndTime(s.opens)).filter(Boolean);
  return [el("p", { class: "pro-session" },
    tEl("span", { class: "badge title-badge pro" }, "badge.led"),
    when.length ? " " : null,
    when.length ? tEl("span", {}, "badge.next_sessions", { when: when.join(", ") }) : null)];
}
