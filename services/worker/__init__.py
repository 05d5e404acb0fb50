"""The arq worker: scoring jobs and the scheduled (cron) jobs."""
