"""ASGI entry point for uvicorn workers: the app from the environment's settings."""

from vigil.app import create_app
from vigil.config import Settings

app = create_app(Settings())
