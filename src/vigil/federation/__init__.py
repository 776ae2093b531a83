"""Partner centres: another vigil instance's signed lists imported here, with provenance."""
