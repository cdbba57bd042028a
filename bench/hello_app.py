"""A hello-world Flask endpoint, served by bench/pipeline.py under the platform's own gunicorn
settings (marac_platform.gunicorn_conf) as the intake's yardstick."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

app = Flask(__name__)


@app.post("/hello")
def hello() -> ResponseReturnValue:
    return jsonify(id="hello"), 201
