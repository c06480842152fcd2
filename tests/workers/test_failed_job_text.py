"""What RQ keeps and logs of a failed job: the exception's type and a masked message only."""

from __future__ import annotations

import ipaddress
import logging

from rq.registry import FailedJobRegistry

from integrations.errors import ProviderError
from workers.failures import failure_text
from workers.queues import get_queue

PHONE, TEXT = "0812345678", "ผมปวดหัวมากครับ"


def test_a_failed_job_keeps_and_logs_no_patient_data(redis, run_worker, services, caplog):
    caplog.set_level(logging.DEBUG)
    queue = get_queue(redis)
    # A stdlib function failing on a patient's words: its ValueError quotes them.
    job = queue.enqueue(ipaddress.ip_address, f"{PHONE} {TEXT}", description="a job that fails")
    run_worker()
    assert job.id in FailedJobRegistry(queue=queue).get_job_ids()
    stored = job.latest_result().exc_string
    assert stored.startswith("ValueError") and PHONE not in stored and TEXT not in stored
    everything_in_redis = b"".join(redis.dump(key) or b"" for key in redis.keys("rq:results:*"))
    assert PHONE.encode() not in everything_in_redis and TEXT.encode() not in everything_in_redis
    assert "ValueError" in caplog.text and PHONE not in caplog.text and TEXT not in caplog.text


def test_our_provider_errors_keep_their_masked_message():
    assert failure_text(ProviderError(f"LINE push to U{'a' * 32} failed: HTTP 400", provider="line")) == \
        "ProviderError: [line] LINE push to …aaaa failed: HTTP 400"
    assert failure_text(KeyError(PHONE)) == "KeyError (message withheld: it may quote patient data)"
