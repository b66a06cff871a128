/* The Start form: inputs built from a job type's parameter defaults, read back as typed values. */

export function buildParamInputs(view, params) {
  const sig = JSON.stringify(params);
  if (view.paramSig === sig) return;
  view.paramSig = sig;
  view.params.textContent = "";
  view.paramInputs = [];
  for (const [name, def] of Object.entries(params)) {
    const id = `param-${view.type}-${name}`;
    const label = document.createElement("label");
    label.className = "field";
    label.htmlFor = id;
    const span = document.createElement("span");
    span.textContent = name;
    let input;
    let kind;
    if (typeof def === "boolean") {
      kind = "boolean";
      input = document.createElement("input");
      input.type = "checkbox";
      input.checked = def;
      label.classList.add("field-check");
    } else if (typeof def === "number") {
      kind = Number.isInteger(def) ? "integer" : "number";
      input = document.createElement("input");
      input.type = "number";
      input.step = kind === "integer" ? "1" : "any";
      input.value = String(def);
      input.required = true;
    } else if (def !== null && typeof def === "object") {
      kind = "json";
      input = document.createElement("textarea");
      input.rows = 2;
      input.value = JSON.stringify(def);
      input.spellcheck = false;
    } else {
      kind = def === null ? "nullable" : "string";
      input = document.createElement("input");
      input.type = "text";
      input.value = def === null ? "" : String(def);
      if (def === null) input.placeholder = "(none)";
    }
    input.id = id;
    input.name = name;
    if (kind === "boolean") label.append(input, span);
    else label.append(span, input);
    view.params.appendChild(label);
    view.paramInputs.push({ name, kind, input });
  }
  view.params.hidden = view.paramInputs.length === 0;
}

export function readParams(view) {
  const params = {};
  for (const { name, kind, input } of view.paramInputs || []) {
    if (kind === "boolean") params[name] = input.checked;
    else if (kind === "integer" || kind === "number") {
      const n = Number(input.value);
      if (input.value.trim() === "" || !Number.isFinite(n) || (kind === "integer" && !Number.isInteger(n))) {
        throw new Error(`${name} must be ${kind === "integer" ? "a whole number" : "a number"}.`);
      }
      params[name] = n;
    } else if (kind === "json") {
      try {
        params[name] = JSON.parse(input.value);
      } catch {
        throw new Error(`${name} must be valid JSON.`);
      }
    } else if (kind === "nullable") params[name] = input.value === "" ? null : input.value;
    else params[name] = input.value;
  }
  return params;
}

