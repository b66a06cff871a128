"""The only code that drives a job's state: the controller job code calls, the runner (a facade over the job-type
registry, one execution per run and the supervisor), log capture, tracing, per-process metrics and the default
store."""
