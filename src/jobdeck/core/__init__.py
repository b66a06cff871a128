"""The domain, with no I/O: the job as plain data (model, operations, events, pipeline, params, job types, errors,
the retry policy) and the package-wide helpers every layer above uses (argument checks, JSON in and out, URLs,
address rules, backoff). Nothing here imports another layer of jobdeck."""
