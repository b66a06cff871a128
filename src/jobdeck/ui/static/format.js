/* Times, durations and estimates as the page shows them, in the viewer's locale and time zone. */

/** ISO 8601 -> milliseconds since the epoch (NaN when missing). */
export const ms = (iso) => (iso ? Date.parse(iso) : NaN);

export const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
export const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

export function localTime(iso) {
  const t = ms(iso);
  if (Number.isNaN(t)) return "–";
  const d = new Date(t);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export const fullTime = (iso) => (Number.isNaN(ms(iso)) ? "" : dateTimeFmt.format(new Date(ms(iso))));

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function eta(job, now) {
  if (job.status !== "running") return "–";
  const p = job.progress || 0;
  const elapsed = (now - ms(job.startTime)) / 1000;
  // Progress allows an estimate once it has moved a little and the job has run for a moment.
  if (p < 0.02 || p >= 1 || elapsed < 2) return "Estimating…";
  const left = (elapsed * (1 - p)) / p;
  return left < 5 ? "a few seconds" : `about ${duration(left).replace(/^(\d+)\.\d s$/, "$1 s")}`;
}

export const shortId = (id) => String(id).slice(0, 8);
export const percent = (p) => Math.max(0, Math.min(100, Math.floor((p || 0) * 100)));

export function operationText(op) {
  if (!op) return "–";
  return `${op.id}, ${op.index} of ${op.total}`;
}
