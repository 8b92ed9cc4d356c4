// Who someone is, and good information (issue 20): badges, library cards, pushed cards and the
// room's words on what peer support is. Shared by the room and the host console. Everything from
// the server reaches the page as text nodes (see common.js); card links must be http(s).
import { dayAndTime, el, nameEl, textEl, timeEl } from "./common.js";

/** What the product says about itself before a room is joined (the server's own words replace it). */
export const PEER_NOTE_FALLBACK = "The people here, hosts included, are peers: people with their own "
  + "experience of hard times, not doctors or therapists, unless a badge beside their name says so. "
  + "Talking here can help, and it sits alongside professional care, never in place of it. For a "
  + "diagnosis, treatment or questions about medication, please talk to your doctor or a local health "
  + "service. If you are in danger now, “Get help now” lists people you can reach at any hour.";

const about = new Map(); // room id (or "") -> {cards, peer_note, professional_led}

/** A room's cards and peer note from GET /api/library (cached per page; null when it cannot be had). */
export async function fetchAbout(roomId = "") {
  if (about.has(roomId)) return about.get(roomId);
  try {
    const query = roomId ? `?room=${encodeURIComponent(roomId)}` : "";
    const response = await fetch(`/api/library${query}`, { credentials: "same-origin" });
    if (!response.ok) return null;
    const body = await response.json();
    const value = {
      cards: Array.isArray(body.cards) ? body.cards.filter((c) => c && typeof c === "object") : [],
      peer_note: String(body.peer_note || PEER_NOTE_FALLBACK),
      professional_led: Boolean(body.professional_led),
    };
    about.set(roomId, value);
    return value;
  } catch {
    return null;
  }
}

/** The badges beside a name: "host" for a host, and the title admins gave them (marked professional). */
export function badgeEls(from) {
  const role = from?.role;
  const out = [];
  if (role === "host" || role === "admin") out.push(el("span", { class: "badge" }, "host"));
  if (from?.title) out.push(titleBadge(from.title, from.professional));
  return out;
}

export function titleBadge(title, professional) {
  return el("span", {
    class: "badge title-badge" + (professional ? " pro" : ""),
    title: professional ? "A professional: the organisers checked and set this title" : "Set by the organisers",
  }, el("bdi", {}, String(title)), professional ? el("span", { class: "sr-only" }, " (professional)") : null);
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
      "Read more on ", siteOf(href), el("span", { class: "sr-only" }, " (opens in a new tab)")) : null,
    tags.length ? el("ul", { class: "tags", "aria-label": "Topics" }, tags.map((t) => el("li", {}, t))) : null,
    extra);
}

/** A card a host shared into the conversation: who shared it, then the card itself. */
export function pushedCardEl(frame) {
  const name = String(frame.from?.name ?? "A host");
  return el("article", { class: "msg shared-card", dataset: { id: String(frame.id ?? "") } },
    el("header", { class: "msg-head" }, nameEl(name), ...badgeEls(frame.from), timeEl(frame.ts)),
    el("p", { class: "shared-why" }, "shared this from the room's library"),
    cardEl(frame.card || {}, { heading: "h3" }));
}

/** The room list's line for a professional-led room: what it is and when the next sessions are. */
export function sessionEls(room) {
  if (!room.professional_led) return [];
  const sessions = Array.isArray(room.sessions) ? room.sessions.slice(0, 2) : [];
  const when = sessions.map((s) => dayAndTime(s.opens)).filter(Boolean);
  return [el("p", { class: "pro-session" },
    el("span", { class: "badge title-badge pro" }, "Led by a professional"),
    when.length ? ` Next sessions: ${when.join(", ")} (your time)` : null)];
}
