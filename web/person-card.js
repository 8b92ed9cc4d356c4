// The host console's side of proportionate moderation (issue 16): the person card, warnings citing
// the room's rules, the ladder's proposal, bulk actions, kind refusal reasons and shield mode.
// Everything people wrote reaches the page as text nodes only (common.js `el`, `textEl`, `nameEl`).
// Every word comes from the console catalog (web/i18n/console/xx.json).
import { el, nameEl, newId, tEl, textEl, timeEl } from "./common.js";
import { has, lang, t, tParts } from "./i18n.js";

/** Catalog words for `prefix` + a server name (a sanction kind, a message status), else the name itself. */
function named(prefix, name) {
  const key = prefix + String(name).replace(/\W+/g, "_");
  return has(key) ? t(key) : String(name);
}

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
      ? el("div", { class: "field" }, tEl("label", { for: id }, "pcard.reason_pick"), select) : null,
    value: () => ((room?.reasons || []).length > 1 ? Number(select.value) : null),
  };
}

/** The shield switch of a room card; `send` sends a frame and says whether it went. */
export function shieldControl(room, send) {
  const button = tEl("button", { type: "button", class: "shield", "aria-pressed": "false" }, "pcard.shield");
  const hint = el("span", { class: "hint" });
  button.addEventListener("click", () => send({ type: "shield", room: room.id, on: !room.shield }));
  const node = el("div", { class: "shield-box" }, button, " ", hint);
  const update = () => {
    button.setAttribute("aria-pressed", String(Boolean(room.shield)));
    button.dataset.i18n = room.shield ? "pcard.shield_off" : "pcard.shield";
    button.textContent = t(button.dataset.i18n);
    hint.dataset.i18n = room.shield ? "pcard.shield_on_hint" : "pcard.shield_hint";
    hint.textContent = t(hint.dataset.i18n);
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
  const open = tEl("button", { type: "button", "aria-expanded": "false" }, "pcard.open");
  open.addEventListener("click", () => {
    const show = card.hidden;
    card.hidden = !show;
    open.setAttribute("aria-expanded", String(show));
    if (show) {
      card.replaceChildren(tEl("p", { class: "hint" }, "pcard.loading"));
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
    tEl("option", { value: "" }, "pcard.warn.no_rule"),
    ...(room.rules || []).map((text, i) => el("option", { value: String(i + 1) }, `${i + 1}. ${text}`)));
  const words = el("textarea", { id: wordsId, rows: "2", maxlength: "1000" });
  const form = el("form", { class: "inline-form warn-form" },
    el("div", { class: "field" }, tEl("label", { for: ruleId }, "pcard.warn.about", { name: nameEl(person.name) }), rule),
    tEl("label", { for: wordsId }, "pcard.warn.words"), words,
    el("div", { class: "actions" }, tEl("button", { type: "submit" }, "pcard.warn.send")));
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
  const rejectAll = tEl("button", { type: "button", class: "danger" }, "pcard.bulk.reject_all");
  rejectAll.addEventListener("click", () => send({ type: "reject_all" }));
  const form = el("form", { class: "inline-form bulk-form" },
    el("div", { class: "actions" }, rejectAll),
    el("div", { class: "field" }, tEl("label", { for: countId }, "pcard.bulk.count"), count),
    el("div", { class: "actions" }, tEl("button", { type: "submit", class: "danger" }, "pcard.bulk.delete")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const n = Math.max(1, Math.min(50, Number(count.value) || 1));
    send({ type: "delete_last", count: n });
  });
  form.prepend(tEl("p", { class: "hint" }, "pcard.bulk.title", { name: nameEl(person.name) }));
  return form;
}

/** The card itself, from a `person` frame. */
export function renderCard(container, c, act) {
  const counts = c.counts || {};
  const next = c.next || {};
  const items = (list, show) => (Array.isArray(list) && list.length
    ? el("ul", {}, ...list.map(show)) : tEl("p", { class: "hint" }, "pcard.none"));
  const noReason = () => tEl("span", {}, "pcard.no_reason");
  const strikes = Number(c.strikes) || 0;
  const parts = [
    tEl("h3", {}, "pcard.title", { name: nameEl(c.name || t("host.someone_cap")) }),
    c.flagged ? tEl("p", { class: "flagged" }, c.flagged.signal === "browser" ? "pcard.flagged_browser" : "pcard.flagged_network") : null,
    el("ul", { class: "counts", "aria-label": t("pcard.counts") },
      el("li", {}, t("pcard.count.held", { n: Number(counts.held) || 0 })),
      el("li", {}, t("pcard.count.rejected", { n: Number(counts.rejected) || 0 })),
      el("li", {}, t("pcard.count.reported", { n: Number(counts.reported) || 0 })),
      el("li", {}, t(strikes === 1 ? "pcard.count.strike" : "pcard.count.strikes", { n: strikes }))),
    el("div", { class: "proposal" },
      el("p", {}, ...tParts("pcard.ladder", { next: el("strong", {}, nextWords(next)) })),
      tEl("p", { class: "hint" }, "pcard.ladder_hint"),
      act ? proposalButton(next, act) : null),
    tEl("h4", {}, "pcard.messages"),
    items(c.messages, (m) => el("li", {}, timeEl(m.ts), " ",
      el("span", { class: "badge" }, named("pcard.status.", m.status)), " ", textEl(m.text, "span"))),
    tEl("h4", {}, "pcard.sanctions"),
    items(c.sanctions, (s) => el("li", {},
      ...tParts("pcard.sanction", { what: named("pcard.sanction.", s.kind), room: String(s.room), name: nameEl(s.by || t("msg.a_host")) }),
      s.rule_text ? " " : "", s.rule_text ? tParts("pcard.sanction_rule", { n: s.rule, rule: textEl(s.rule_text, "span") }) : null,
      s.minutes ? " " + t("pcard.sanction_minutes", { n: s.minutes }) : "", " ", timeEl(s.ts))),
    tEl("h4", {}, "pcard.reports_about"),
    items(c.reports_about, (r) => el("li", {},
      ...tParts("pcard.report_by", { name: nameEl(r.by || t("host.someone")), reason: r.reason ? textEl(r.reason, "span") : noReason() }))),
    tEl("h4", {}, "pcard.reports_by"),
    items(c.reports_by, (r) => el("li", {},
      ...tParts("pcard.report_in", { reason: r.reason ? textEl(r.reason, "span") : noReason(), room: String(r.room) }))),
    tEl("h4", {}, "host.notes.title"),
    items(c.notes, (n) => el("li", {}, textEl(n.text, "span"), " — ", nameEl(n.by || t("msg.a_host"))))];
  container.replaceChildren(...parts.filter(Boolean));
}

/** The ladder's next step in the catalogs' words ("warn", "mute for 15 min"), else the server's label. */
export function nextWords(next) {
  // In English the server's label is the source the catalog follows (as for notices: serverText).
  if (lang() === "en" && next.label) return String(next.label);
  const action = String(next.action || "warn");
  const minutes = Number(next.minutes);
  if (action === "mute" && minutes >= 60 && minutes % 60 === 0) return t("pcard.next.mute_hours", { n: minutes / 60 });
  if (action === "mute" && minutes) return t("pcard.next.mute", { n: minutes });
  return has(`pcard.next.${action}`) ? t(`pcard.next.${action}`) : String(next.label || action);
}

function proposalButton(next, act) {
  const [key, params] = next.action === "warn" ? ["pcard.propose.warn", {}]
    : next.action === "mute" ? ["pcard.propose.mute", { n: next.minutes }]
      : next.action === "ban" ? ["host.person.ban", {}] : ["host.person.remove", {}];
  return tEl("button", { type: "button", onclick: () => act(next) }, key, params);
}
