// Leaving quickly: the button in the page's header and Esc twice. This module imports nothing, so
// it works from the first moment, before the catalogs or the connection are there.
const NEUTRAL_URL = "https://www.bbc.co.uk/weather";
const hooks = [];

/** Something to do on the way out (close the connection); it must be quick and may fail. */
export function onQuickExit(fn) {
  hooks.push(fn);
}

export function leaveQuickly() {
  for (const fn of hooks) {
    try {
      fn();
    } catch {
      /* leaving matters more */
    }
  }
  try {
    sessionStorage.clear();
  } catch {
    /* unavailable */
  }
  try {
    for (const key of Object.keys(localStorage)) if (key.startsWith("cs.")) localStorage.removeItem(key);
  } catch {
    /* unavailable */
  }
  const button = document.getElementById("leave-quick");
  const url = button?.dataset.url || NEUTRAL_URL;
  document.title = button?.dataset.exitTitle || document.title;
  document.body.replaceChildren();
  location.replace(url);
}

document.getElementById("leave-quick")?.addEventListener("click", leaveQuickly);
// Esc twice (within a second) leaves quickly. An Esc that closes a dialog does not count.
let lastEsc = 0;
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.isComposing) return;
  if (document.querySelector("dialog[open]")) {
    lastEsc = 0;
    return;
  }
  const now = Date.now();
  if (now - lastEsc < 1000) leaveQuickly();
  else lastEsc = now;
});
