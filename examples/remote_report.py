"""Report a job that runs away from the store, over HTTP (an external job type).

    jobdeck serve --external-type Reindex --token "$JOBDECK_TOKEN" &
    JOBDECK_URL=http://127.0.0.1:8000 JOBDECK_TOKEN=... python examples/remote_report.py

The admin token starts the job; the process that runs it gets only the job's report token.
"""

import os

from jobdeck import Client, RemoteController

url, admin_token = os.environ.get("JOBDECK_URL", "http://127.0.0.1:8000"), os.environ["JOBDECK_TOKEN"]
batches = [list(range(n, n + 100)) for n in range(0, 1000, 100)]
indexed = []

with Client(url, admin_token) as client:                      # whoever starts the job
    job, report_token = client.start_external("Reindex", params={"index": "people"})

with RemoteController(job.id, url, report_token) as ctl:      # wherever it runs
    ctl.initialize_pipeline(["load", ("index", 4)])
    ctl.update_operation("load", 1.0)
    for n, batch in enumerate(batches, 1):
        ctl.check_abort()                                     # an abort from the dashboard stops it here
        indexed.extend(batch)                                 # the work
        ctl.progress(n / len(batches))
    ctl.info(f"indexed {len(indexed)} rows")
print(job.id)
