"""ASGI entry point for uvicorn workers: the app from the environment's settings."""

import logging

from vigil.app import create_app
from vigil.config import Settings

_settings = Settings()
# With several workers each is a fresh interpreter: log as `vigil serve` does with one.
logging.basicConfig(level=_settings.log_level, format="%(message)s")
app = create_app(_settings)
