"""Provider clients against the providers' documented answers, stubbed at the HTTP boundary with
``responses`` (one set of stub helpers per provider: ``tests/moph_support.py``, ``tests/handoff_stubs.py``
for Oho and LiveDesk, ``tests/verification_support.py`` for the SMS providers)."""
