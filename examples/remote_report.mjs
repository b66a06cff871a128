// Report a job that runs away from the store, from JavaScript or TypeScript with plain fetch (Node 18+).
//
//   jobdeck serve --external-type Reindex --token "$JOBDECK_TOKEN" &
//   JOBDECK_URL=http://127.0.0.1:8000 JOBDECK_TOKEN=... node examples/remote_report.mjs
const api = `${process.env.JOBDECK_URL ?? "http://127.0.0.1:8000"}/api/admin/jobs`;
const batches = Array.from({ length: 10 }, (_, n) => n);

const post = (path, token, body) => fetch(`${api}${path}`, {
  method: "POST", body: JSON.stringify(body),
  headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
}).then((r) => r.json());
const job = await post("/start", process.env.JOBDECK_TOKEN, { jobType: "Reindex" });   // the admin starts it
const report = (tail, body = {}) => post(`/single/${job.id}/${tail}`, job.reportToken, body);
for (const [i, batch] of batches.entries()) {
  const { abortRequested } = await report("report", { progress: (i + 1) / batches.length,
    messages: [{ type: "info", message: `batch ${batch} indexed` }] });
  if (abortRequested) { await report("aborted"); process.exit(0); }
}
await report("complete", { result: { batches: batches.length } });
console.log(job.id);
