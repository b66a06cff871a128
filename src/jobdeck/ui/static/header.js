/* The header every page shares (the server inserts it, see api/_pages.py): sign-out, the language switcher, and
the live indicator that the page's event stream (follow.js, stream.js) keeps true. */

const indicator = () => document.getElementById("connection");

/** Say how the page is kept up to date: `state` is connecting | live | reconnecting | offline | idle. */
export function setLive(state, text) {
  const el = indicator();
  if (!el) return;
  el.dataset.state = state;
  const words = el.querySelector(".conn-text");
  if (words && words.textContent !== text) words.textContent = text;
}

document.getElementById("logout")?.addEventListener("click", async () => {
  try {
    await fetch("logout", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: "{}",
    });
  } finally {
    window.location.assign("./");
  }
});

// The chosen language is remembered for a year in a cookie the server reads (api/_locale.py: it wins over the
// browser's Accept-Language), so every page and every later visit speaks it.
document.getElementById("language")?.addEventListener("change", (event) => {
  const code = encodeURIComponent(event.target.value);
  document.cookie = `jobdeck_lang=${code}; Path=/; Max-Age=31536000; SameSite=Lax`;
  window.location.reload();
});
