"""Hash-sharing programmes as a domain: a programme's records imported into a vigil list as
proposals with checkpoints (``imports.py``, ``service.py``, ``models.py``), and a list exported
in each programme's format (``exports.py``). The clients and formats are :mod:`vigil.exchange`."""
