/* Parameter forms: inputs built from a job type's JSON Schema (labels, help text, limits), read back as typed
values. Used by the Start form on each card and by the Re-run dialog. The server checks the values again and
names the field it refuses. */

import { has, num, t } from "./i18n.js";

// A limit as the viewer's language writes a number ("0,5" in Finnish), without grouping ("1000" as typed).
const limit = (n) => num(n, { useGrouping: false, maximumFractionDigits: 20 });

function kindOf(prop, value) {
  if (prop && Array.isArray(prop.enum)) return "choice";
  const type = prop && prop.type;
  if (type === "boolean" || typeof value === "boolean") return "boolean";
  if (type === "integer" || (type === undefined && Number.isInteger(value))) return "integer";
  if (type === "number" || typeof value === "number") return "number";
  if (type === "string" || typeof value === "string") return "string";
  if (value === null || value === undefined) return "nullable";
  return "json";
}

function limitsText(prop, kind) {
  if (!prop) return "";
  const integer = kind === "integer";
  const low = typeof prop.minimum === "number" ? ["params.at_least", prop.minimum]
    : typeof prop.exclusiveMinimum === "number" ? ["params.above", prop.exclusiveMinimum] : null;
  const high = typeof prop.maximum === "number" ? ["params.at_most", prop.maximum]
    : typeof prop.exclusiveMaximum === "number" ? ["params.below", prop.exclusiveMaximum] : null;
  if (low && high && low[0] === "params.at_least" && high[0] === "params.at_most") {
    return t(integer ? "params.int_between" : "params.num_between", { min: limit(low[1]), max: limit(high[1]) });
  }
  if (low || high) {
    const limits = [low, high].filter(Boolean).map(([key, v]) => t(key, { n: limit(v) })).join(t("params.and"));
    return t(integer ? "params.int_limits" : "params.num_limits", { limits });
  }
  if (prop.minLength !== undefined || prop.maxLength !== undefined) {
    const min = limit(prop.minLength ?? 0);
    return prop.maxLength === undefined ? t("params.chars_min", { min })
      : t("params.chars_between", { min, max: limit(prop.maxLength) });
  }
  return "";
}

/** A parameter's label: the schema's `title` as the host wrote it; where it is only the name title-cased (what a
 * schema generator makes of `fail_at`: "Fail At"), the name as a sentence ("Fail at"). */
export function labelOf(name, prop) {
  const words = name.replace(/_/g, " ").trim();
  const generated = words.replace(/\b\w/g, (c) => c.toUpperCase());
  const title = prop && typeof prop.title === "string" && prop.title.trim() ? prop.title : "";
  if (title && title !== generated) return title;
  return words.charAt(0).toUpperCase() + words.slice(1).toLowerCase();
}

/** The label of parameter `name` of job type `type`: the host's own words for it in the viewer's language
 * (its catalog's `types.<type>.params.<name>`) where it gave them, else labelOf(). */
function paramLabel(type, name, prop) {
  const key = `types.${type}.params.${name}`; // i18n-ignore: a catalog key
  return has(key) ? t(key) : labelOf(name, prop);
}

/** (Re)build the inputs of `view.params` for `defaults` (name -> value) and `schema` (JSON Schema or null). */
export function buildParamInputs(view, defaults, schema = null, idPrefix = `param-${view.type}`) {
  const sig = JSON.stringify([defaults, schema]);
  if (view.paramSig === sig) return;
  view.paramSig = sig;
  view.params.textContent = "";
  view.paramInputs = [];
  const props = (schema && schema.properties) || {};
  const names = [...new Set([...Object.keys(props), ...Object.keys(defaults || {})])];
  for (const name of names) {
    const prop = props[name] || null;
    const value = defaults && name in defaults ? defaults[name] : prop ? prop.default : undefined;
    const kind = kindOf(prop, value);
    const id = `${idPrefix}-${name}`;
    const field = document.createElement("div");
    field.className = kind === "boolean" ? "field field-check" : "field";
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = paramLabel(view.type, name, prop);
    let input;
    if (kind === "boolean") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.checked = Boolean(value);
    } else if (kind === "choice") {
      input = document.createElement("select");
      for (const option of prop.enum) {
        const el = document.createElement("option");
        el.value = JSON.stringify(option);
        el.textContent = String(option);
        el.selected = option === value;
        input.appendChild(el);
      }
    } else if (kind === "integer" || kind === "number") {
      input = document.createElement("input");
      input.type = "number";
      input.step = kind === "integer" ? "1" : "any";
      if (prop && typeof prop.minimum === "number") input.min = String(prop.minimum);
      if (prop && typeof prop.maximum === "number") input.max = String(prop.maximum);
      input.value = value === undefined || value === null ? "" : String(value);
      input.required = true;
      // As wide as the longest allowed value (and the default), not the whole row.
      const digits = Math.max(4, ...[prop && prop.maximum, prop && prop.minimum, value]
        .filter((v) => typeof v === "number").map((v) => String(v).length));
      input.style.width = `calc(${Math.min(digits, 16)}ch + 2.5rem)`;
    } else if (kind === "json") {
      input = document.createElement("textarea");
      input.rows = 2;
      input.value = value === undefined ? "" : JSON.stringify(value);
      input.spellcheck = false;
    } else {
      input = document.createElement("input");
      input.type = "text";
      input.value = value === null || value === undefined ? "" : String(value);
      if (value === null) input.placeholder = t("params.none");
    }
    input.id = id;
    input.name = name;
    const help = [prop && prop.description, limitsText(prop, kind)].filter(Boolean).join(" ");
    if (kind === "boolean") field.append(input, label);
    else field.append(label, input);
    if (help) {
      const p = document.createElement("p");
      p.className = "field-help";
      p.id = `${id}-help`;
      p.textContent = help;
      input.setAttribute("aria-describedby", p.id);
      field.appendChild(p);
    }
    view.params.appendChild(field);
    view.paramInputs.push({ name, kind, input, label: label.textContent, prop });
  }
  view.params.hidden = view.paramInputs.length === 0;
}

/** The form's values, typed; throws an Error naming the field when one cannot be what its type says. */
export function readParams(view) {
  const params = {};
  for (const { name, kind, input, label, prop } of view.paramInputs || []) {
    if (kind === "boolean") params[name] = input.checked;
    else if (kind === "choice") params[name] = JSON.parse(input.value);
    else if (kind === "integer" || kind === "number") {
      const n = Number(input.value);
      if (input.value.trim() === "" || !Number.isFinite(n) || (kind === "integer" && !Number.isInteger(n))) {
        input.focus();
        throw new Error(t(kind === "integer" ? "params.must_be_int" : "params.must_be_num", { label }));
      }
      if (prop && ((typeof prop.minimum === "number" && n < prop.minimum)
          || (typeof prop.maximum === "number" && n > prop.maximum))) {
        input.focus();
        throw new Error(`${label}: ${limitsText(prop, kind)}`);
      }
      params[name] = n;
    } else if (kind === "json") {
      try {
        params[name] = input.value.trim() === "" ? null : JSON.parse(input.value);
      } catch {
        input.focus();
        throw new Error(t("params.must_be_json", { label }));
      }
    } else if (kind === "nullable") params[name] = input.value === "" ? null : input.value;
    else params[name] = input.value;
  }
  return params;
}
