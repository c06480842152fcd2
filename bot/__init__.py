"""The pure domain: settings model, privacy rules, texts, knowledge base and dialog, Thai dates,
phone and CID rules, appointments, handoff rules and texts, the verification state machine.

Nothing here imports Flask, Redis, RQ or an HTTP client (an import-linter contract in
``pyproject.toml`` keeps it so): a test drives all of it in plain Python.
"""
