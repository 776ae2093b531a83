"""Exchange with the world's hash sharing, as a library (no domain, no web app, no database):
the verifying feed client (``client.py``) and a provider's sync of a list into a folder
(``sync.py``) for vigil servers; the hash-sharing programmes' own clients (threatexchange's, for
NCMEC, StopNCII and Meta ThreatExchange) behind the egress policy (``programmes.py``,
``http.py``). Project VIC's VICS 1.3 files are read and written by :mod:`vigil.matching.vics`
(beside the other list formats). What imports into a list and exports from it is the domain
:mod:`vigil.sharing`."""
