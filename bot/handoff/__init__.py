"""Human handoff, the pure parts (no Redis, HTTP or Flask): ``hours`` (business hours),
``state`` (the handoff state model), ``messages`` (what the patient reads and taps) and ``render``
(plain text and notes for LiveDesk). ``workers/handoff/`` keeps the state and talks to the providers.
"""
