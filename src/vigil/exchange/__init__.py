"""Exchange with other parties' vigil servers: the verifying feed client (``client.py``) and the
provider's sync of a list into a folder (``sync.py``). A core library: it imports the matching
core, the log's verification and the egress policy, never a domain, the web app or the
database."""
