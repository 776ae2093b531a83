"""ASGI entry point for uvicorn workers: the app from the environment's settings, logging
as ``vigil serve`` does (each worker is a process of its own)."""


from vigil.app import create_app
from vigil.config import Settings
from vigil.logs import configure_logging

settings = Settings()
configure_logging(settings.log_level, settings.log_format)
app = create_app(settings)
