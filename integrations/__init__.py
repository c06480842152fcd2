"""One small client per external service, all on the shared base in ``http.py``."""
