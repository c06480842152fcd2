"""gunicorn's hooks (gunicorn reads ./gunicorn.conf.py by itself; the Procfile's flags set the rest).

Metrics run in prometheus-client's multiprocess mode (``integrations/metrics.py``): when a
worker exits, its live-gauge files go; its counters stay in the directory, so totals never
drop while the deployment runs (``./dev serve`` empties the directory before it starts).
"""


def child_exit(server, worker):
    from integrations.metrics import mark_process_dead

    mark_process_dead(worker.pid)
