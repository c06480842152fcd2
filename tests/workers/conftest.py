"""Stores, queues, jobs and the conversation engine: a real Redis and real RQ workers (root conftest)."""
