/* The frame of the dashboard's modal dialogs (bulk actions, Re-run): a <dialog> holding a form (method "dialog")
with a title, the caller's parts and a Cancel and an OK button, built once per page and reused. Each button is a
submit button whose value becomes the dialog's returnValue. */

function submitButton(value, text, className) {
  const button = document.createElement("button");
  button.type = "submit";
  button.value = value;
  button.textContent = text;
  button.className = className;
  return button;
}

/** Build the dialog ``id`` (labelled by its title, whose element id is ``titleId``) with ``parts`` between the
title and the buttons, append it to the page and return it. ``ok``: {value, text, className}; ``cancel``: the
Cancel button's text. ``formClass``, ``describedBy`` (an element id) and ``cancelNoValidate`` (Cancel skips the
form's validation) are optional. */
export function buildDialog({ id, titleId, title, parts, cancel, ok, formClass, describedBy, cancelNoValidate }) {
  const dialog = document.createElement("dialog");
  dialog.className = "dialog";
  dialog.id = id;
  dialog.setAttribute("aria-labelledby", titleId);
  if (describedBy) dialog.setAttribute("aria-describedby", describedBy);
  const form = document.createElement("form");
  form.method = "dialog";
  if (formClass) form.className = formClass;
  const heading = document.createElement("h2");
  heading.id = titleId;
  heading.textContent = title;
  const actions = document.createElement("div");
  actions.className = "dialog-actions";
  const no = submitButton("cancel", cancel, "btn btn-ghost"); // i18n-ignore: class names
  no.formNoValidate = Boolean(cancelNoValidate);
  actions.append(no, submitButton(ok.value, ok.text, ok.className));
  form.append(heading, ...parts, actions);
  dialog.appendChild(form);
  document.body.appendChild(dialog);
  return dialog;
}
