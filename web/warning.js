// The participant's side of proportionate moderation (issue 16): the room's numbered rules, a host's
// warning and its "I understand", a message a host did not share, and this browser's random id.
// Everything people or hosts wrote reaches the page as text nodes only (common.js `el`, `textEl`).
import { $, el, ls, newId, resourcesEl, tEl, textEl } from "./common.js";
import { t } from "./i18n.js";

/**
 * A random id this browser keeps (localStorage), sent when joining a room. It says nothing about the
 * person; the server keeps only a keyed hash of it, for a few days, to notice someone banned coming
 * back under a new name (docs/security.md). Clearing the site's data forgets it.
 */
export function browserId() {
  let id = ls.get("cs.browser");
  if (typeof id !== "string" || !/^[0-9a-f]{16,64}$/.test(id)) {
    id = newId() + newId();
    ls.set("cs.browser", id);
  }
  return id;
}

/**
 * The room's rules, numbered, after its guidelines (a warning cites them by number): in the room's
 * guidelines box, or on the page where guidelines are accepted before joining.
 */
export function renderRules(rules, where = "#room-guidelines", id = "room-rules") {
  const box = $(where);
  $("#" + id)?.remove();
  $("#" + id + "-title")?.remove();
  if (!box || !Array.isArray(rules) || !rules.length) return;
  box.append(tEl("p", { id: id + "-title", class: "rules-title" }, "rules.title"),
    el("ol", { id, class: "rules", "aria-labelledby": id + "-title" },
      ...rules.map((rule) => el("li", { dir: "auto" }, String(rule)))));
  box.hidden = false;
}

/**
 * A host's warning, shown in place of the message box until the person chooses "I understand".
 * `acknowledge()` sends the frame; the panel goes when the server says it is done (`hideWarning`).
 */
export function showWarning(warning, acknowledge) {
  if (!warning) return;
  const composer = $("#composer");
  let panel = $("#warning");
  if (panel && panel.dataset.id === String(warning.id)) return;
  if (panel) panel.remove();
  const rule = warning.rule_text
    ? el("blockquote", { class: "warning-rule" },
      tEl("p", { class: "warning-rule-label" }, "warning.rule", { number: Number(warning.rule) || "" }),
      textEl(warning.rule_text))
    : null;
  const words = warning.text
    ? el("div", { class: "warning-words" }, tEl("p", { class: "hint" }, "warning.host_added"), textEl(warning.text))
    : null;
  const button = tEl("button", { type: "button", class: "primary", id: "warning-ack" }, "warning.understand");
  panel = el("section", { id: "warning", class: "warning-card", role: "region", "aria-labelledby": "warning-title", dataset: { id: String(warning.id) } },
    tEl("h2", { id: "warning-title", tabindex: "-1" }, "warning.title"),
    tEl("p", {}, "warning.text"),
    rule,
    words,
    tEl("p", { class: "hint" }, "warning.only_you"),
    button);
  button.addEventListener("click", () => {
    button.disabled = true;
    if (!acknowledge()) button.disabled = false;
  });
  composer.before(panel);
  composer.hidden = true;
  $("#warning-title").focus();
}

/** The warning was acknowledged (here or in another tab): the message box comes back. */
export function hideWarning() {
  const panel = $("#warning");
  if (panel) panel.remove();
  $("#composer").hidden = false;
}

/**
 * A message a host did not share: why, in the host's or the room's words, and where to find someone
 * to talk to. Shown in the log, only to its sender.
 */
export function notSharedEl(notice) {
  return el("section", { class: "not-shared", role: "note", "aria-label": t("notshared.label"), "data-i18n-attr": "aria-label:notshared.label" },
    tEl("p", { class: "not-shared-head" }, "notshared.head"),
    textEl(notice.text),
    notice.after ? el("p", { class: "hint" }, String(notice.after)) : null,
    Array.isArray(notice.resources) && notice.resources.length ? resourcesEl(notice.resources) : null);
}
