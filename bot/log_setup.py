"""One log format for web and workers. Never log bodies: they carry patient data."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # urllib3 at DEBUG prints full URLs, some of which carry credentials in the query string.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # line-bot-sdk logs whole response bodies (patients' names, profiles) at DEBUG.
    logging.getLogger("linebot").setLevel(logging.INFO)
