"""ASGI entry point for uvicorn workers: the app from the environment's settings, logging
as ``vigil serve`` does (each worker is a process of its own)."""


import sys

from vigil.app import create_app
from vigil.config import Settings
from vigil.logs import configure_logging

#: How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
#: A request thread leaves the GIL during an index search (milliseconds of compiled code) and
#: waits to take it back while another request's thread runs Python; at 5 ms that wait was a
#: quarter of a 20 ms match request. Measured with two requests at a time on one worker at
#: 10M indicators: 0.5 ms gave 5-9% more hashes a second at the same p99 (decision 0037).
GIL_SWITCH_INTERVAL_S = 0.0005

sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
settings = Settings()
configure_logging(settings.log_level, settings.log_format)
app = create_app(settings)
