"""The ceiling for the ingest benchmark: Flask answering POST /callback with no work at all."""

from flask import Flask

app = Flask(__name__)


@app.post("/callback")
def callback():
    return {"status": "ok"}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
