"""The scheduler daemon's adapters: APScheduler 3 cron triggers and jobs (:mod:`.daemon`), and
the small HTTP server of ``/healthz`` and ``/metrics`` (:mod:`.health`)."""
