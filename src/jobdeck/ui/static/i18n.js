/* The dashboard's words in the viewer's language. The server puts the language and its whole catalog into every
page (<script id="jobdeck-i18n">, see api/_locale.py); t() looks a key up, fills its {names} and picks a plural
form with the browser's Intl.PluralRules. Numbers and dates are formatted for the same language (format.js). */

const data = (() => {
  try {
    return JSON.parse(document.getElementById("jobdeck-i18n").textContent);
  } catch {
    return { lang: "en", locales: { en: "English" }, messages: {} }; // i18n-ignore: a page without its catalog
  }
})();

/** The page's language ("en", "fi"), and the shipped ones (code -> name in itself). */
export const lang = data.lang;
export const locales = data.locales;

const plurals = new Intl.PluralRules(lang);
const numbers = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });

/** A number as the viewer's language writes it ("1 234,5" in Finnish). */
export const num = (n, options) => (options ? new Intl.NumberFormat(lang, options) : numbers).format(n);

/** The message `key` with `{name}` filled from `values` (numbers formatted for the language); a plural message
 * picks its form by `values.count`. An unknown key shows as itself (the tests keep every key in every catalog). */
export function t(key, values = {}) {
  let text = data.messages[key];
  if (text === undefined) return key;
  if (typeof text === "object") text = text[plurals.select(Number(values.count) || 0)] ?? text.other;
  return text.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (all, name) => {
    if (!(name in values)) return all;
    const value = values[name];
    return typeof value === "number" ? numbers.format(value) : String(value);
  });
}

/** Whether the catalog has `key` (for words the host application may or may not supply). */
export const has = (key) => key in data.messages;
