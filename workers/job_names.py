"""Every job's name: the dotted path of its function, what RQ stores and a worker imports to run it.

Stores and services enqueue by these names instead of importing a ``jobs`` module: a job reaches
the services (``workers.runtime``), so an import back from them would tie ``workers/`` into a
cycle. The names are the functions' own paths, as RQ would store them, so jobs queued before a
deploy still run after it: move or rename a job function only with a name kept here for the old
path. ``tests/workers/test_job_names.py`` imports every name, so a typo fails there.
"""

# workers/line/jobs.py
LINE_DRAIN_INBOX = "workers.line.jobs.drain_inbox"

# workers/handoff/jobs.py
HANDOFF_DRAIN_MIRROR = "workers.handoff.jobs.drain_mirror"
HANDOFF_DRAIN_TO_PATIENT = "workers.handoff.jobs.drain_to_patient"
HANDOFF_ENSURE_OHO_CONTACT = "workers.handoff.jobs.ensure_oho_contact"
HANDOFF_REQUEST_AGENT = "workers.handoff.jobs.request_agent"
HANDOFF_RESOLVE = "workers.handoff.jobs.resolve_handoff"
HANDOFF_CLOSE = "workers.handoff.jobs.close_handoff"
HANDOFF_CHECK_NO_AGENT = "workers.handoff.jobs.check_no_agent"
HANDOFF_CHECK_IDLE = "workers.handoff.jobs.check_idle"

# workers/verification/jobs.py
VERIFICATION_SEND_CODE = "workers.verification.jobs.send_code"
VERIFICATION_CHECK_CODE = "workers.verification.jobs.check_code"
VERIFICATION_TELL_UNDELIVERED = "workers.verification.jobs.tell_undelivered"
VERIFICATION_UPDATE_CONTACT = "workers.verification.jobs.update_contact"

# workers/appointments/jobs.py
APPOINTMENT_SEND_NOTICE = "workers.appointments.jobs.send_notice"
APPOINTMENT_SEND_REMINDER = "workers.appointments.jobs.send_reminder"
APPOINTMENT_SEND_ANNOUNCEMENT_CHUNK = "workers.appointments.jobs.send_announcement_chunk"
