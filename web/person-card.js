// The host console's side of proportionate moderation (issue 16): the person card, warnings citing
// the room's rules, the ladder's proposal, bulk actions, kind refusal reasons and shield mode.
// Everything people wrote reaches the page as text nodes only (common.js `el`, `textEl`, `nameEl`).
import { el, nameEl, newId, textEl, timeEl } from "./common.js";

const SANCTION_WORDS = {
  warned: "Warned", muted: "Muted", unmuted: "Unmuted", kicked: "Removed", banned: "Banned", unbanned: "Unbanned",
};
const STATUS_WORDS = { published: "shared", waiting: "waiting", released: "released", "not shared": "not shared", deleted: "deleted" };

/** What the room tells the console on join: its rules, ladder and refusal reasons, shield mode. */
export function rememberRoomModeration(room, joined) {
  room.rules = Array.isArray(joined.rules) ? joined.rules.map(String) : [];
  room.ladder = Array.isArray(joined.ladder) ? joined.ladder.map(String) : [];
  room.reasons = Array.isArray(joined.reasons) ? joined.reasons.map(String) : [];
  room.shield = Boolean(joined.shield);
}

/** A choice of the room's calm reasons for a reject form (the note, if written, wins). */
export function reasonPicker(room) {
  const id = "r" + newId();
  const select = el("select", { id, class: "reason-pick" },
    ...(room?.reasons || []).map((text, i) => el("option", { value: String(i + 1) }, text)));
  return {
    select,
    field: (room?.reasons || []).length > 1
      ? el("div", { class: "field" }, el("label", { for: id }, "What they will read"), select) : null,
    value: () => ((room?.reasons || []).length > 1 ? Number(select.value) : null),
  };
}

/** The shield switch of a room card; `send` sends a frame and says whether it went. */
export function shieldControl(room, send) {
  const button = el("button", { type: "button", class: "shield", "aria-pressed": "false" }, "Shield mode");
  const hint = el("span", { class: "hint" });
  button.addEventListener("click", () => send({ type: "shield", room: room.id, on: !room.shield }));
  const node = el("div", { class: "shield-box" }, button, " ", hint);
  const update = () => {
    button.setAttribute("aria-pressed", String(Boolean(room.shield)));
    button.textContent = room.shield ? "Turn shield mode off" : "Shield mode";
    hint.textContent = room.shield
      ? "On: slower posting, newcomers' messages and links wait for you. Off restores the room exactly."
      : "For a raid: one click applies the room's preset, and off puts everything back.";
    hint.className = room.shield ? "hint shield-on" : "hint";
  };
  update();
  return { node, update };
}

/**
 * The tools for one person in a room: the card (asked from the server), a warning citing a rule,
 * and bulk actions. `send(frame)` sends one frame for this room and person.
 */
export function personTools(room, session, person, send) {
  const card = el("div", { class: "person-card", hidden: true, "aria-live": "polite" });
  const open = el("button", { type: "button", "aria-expanded": "false" }, "Person card");
  open.addEventListener("click", () => {
    const show = card.hidden;
    card.hidden = !show;
    open.setAttribute("aria-expanded", String(show));
    if (show) {
      card.replaceChildren(el("p", { class: "hint" }, "Gathering what the hosts know…"));
      send({ type: "person" });
    }
  });
  const warn = warnForm(room, person, send);
  const bulk = bulkForm(person, send);
  return { node: el("div", { class: "person-tools" }, el("div", { class: "actions" }, open), card, warn, bulk), card };
}

function warnForm(room, person, send) {
  const ruleId = "w" + newId();
  const wordsId = "ww" + newId();
  const rule = el("select", { id: ruleId },
    el("option", { value: "" }, "No particular rule"),
    ...(room.rules || []).map((text, i) => el("option", { value: String(i + 1) }, `${i + 1}. ${text}`)));
  const words = el("textarea", { id: wordsId, rows: "2", maxlength: "1000" });
  const form = el("form", { class: "inline-form warn-form" },
    el("div", { class: "field" }, el("label", { for: ruleId }, "Warn ", nameEl(person.name), " about"), rule),
    el("label", { for: wordsId }, "Your words (optional, only they will see them)"), words,
    el("div", { class: "actions" }, el("button", { type: "submit" }, "Send warning")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const frame = { type: "warn" };
    if (rule.value) frame.rule = Number(rule.value);
    if (words.value.trim()) frame.text = words.value.trim();
    if (send(frame)) words.value = "";
  });
  return form;
}

function bulkForm(person, send) {
  const countId = "c" + newId();
  const count = el("input", { id: countId, type: "number", min: "1", max: "50", value: "5", inputmode: "numeric" });
  const rejectAll = el("button", { type: "button", class: "danger" }, "Don't share any of their waiting messages");
  rejectAll.addEventListener("click", () => send({ type: "reject_all" }));
  const form = el("form", { class: "inline-form bulk-form" },
    el("div", { class: "actions" }, rejectAll),
    el("div", { class: "field" }, el("label", { for: countId }, "Delete their last messages: how many"), count),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "danger" }, "Delete for everyone")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const n = Math.max(1, Math.min(50, Number(count.value) || 1));
    send({ type: "delete_last", count: n });
  });
  form.prepend(el("p", { class: "hint" }, "After a flood, for ", nameEl(person.name), ":"));
  return form;
}

/** The card itself, from a `person` frame. */
export function renderCard(container, c, act) {
  const counts = c.counts || {};
  const next = c.next || {};
  const items = (list, show) => (Array.isArray(list) && list.length
    ? el("ul", {}, ...list.map(show)) : el("p", { class: "hint" }, "None."));
  const parts = [
    el("h3", {}, nameEl(c.name || "Someone"), " — person card"),
    c.flagged ? el("p", { class: "flagged" },
      `May be someone banned earlier (same ${c.flagged.signal === "browser" ? "browser" : "network"}). `
      + "Their messages wait for a host. It may be someone else: look at what they write before acting.") : null,
    el("ul", { class: "counts", "aria-label": "In this room" },
      el("li", {}, `${Number(counts.held) || 0} held`),
      el("li", {}, `${Number(counts.rejected) || 0} not shared`),
      el("li", {}, `${Number(counts.reported) || 0} reported`),
      el("li", {}, `${Number(c.strikes) || 0} strike${c.strikes === 1 ? "" : "s"} now`)),
    el("div", { class: "proposal" },
      el("p", {}, "The room's ladder suggests next: ", el("strong", {}, String(next.label || "warn")), "."),
      el("p", { class: "hint" }, "A suggestion only: you decide. Strikes stop counting after a while."),
      act ? proposalButton(next, act) : null),
    el("h4", {}, "Recent messages here"),
    items(c.messages, (m) => el("li", {}, timeEl(m.ts), " ",
      el("span", { class: "badge" }, STATUS_WORDS[m.status] || String(m.status)), " ", textEl(m.text, "span"))),
    el("h4", {}, "Warnings, mutes and bans (all rooms)"),
    items(c.sanctions, (s) => el("li", {}, `${SANCTION_WORDS[s.kind] || s.kind} in ${s.room} by `, nameEl(s.by || "a host"),
      s.rule_text ? ` (rule ${s.rule}: ` : "", s.rule_text ? textEl(s.rule_text, "span") : null, s.rule_text ? ")" : "",
      s.minutes ? ` for ${s.minutes} min` : "", " ", timeEl(s.ts))),
    el("h4", {}, "Reports about them"),
    items(c.reports_about, (r) => el("li", {}, "by ", nameEl(r.by || "someone"), ": ", textEl(r.reason || "(no reason)", "span"))),
    el("h4", {}, "Reports they made"),
    items(c.reports_by, (r) => el("li", {}, textEl(r.reason || "(no reason)", "span"), " in ", String(r.room))),
    el("h4", {}, "Care notes"),
    items(c.notes, (n) => el("li", {}, textEl(n.text, "span"), " — ", nameEl(n.by || "a host")))];
  container.replaceChildren(...parts.filter(Boolean));
}

function proposalButton(next, act) {
  const label = next.action === "warn" ? "Warn (choose the rule below)"
    : next.action === "mute" ? `Mute for ${next.minutes} min` : next.action === "ban" ? "Ban…" : "Remove…";
  return el("button", { type: "button", onclick: () => act(next) }, label);
}
