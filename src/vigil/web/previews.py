"""Review previews: :mod:`vigil.matching.previews` (reduced JPEGs, never the original), shared
with ``vigil scan``'s report."""

from __future__ import annotations

from vigil.matching.previews import MAX_PIXELS, preview

__all__ = ["MAX_PIXELS", "preview"]
