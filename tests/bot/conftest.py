"""The pure domain: plain Python, no Redis, HTTP or Flask (the root conftest's fixtures are not needed)."""
