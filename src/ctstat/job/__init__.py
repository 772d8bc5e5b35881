"""The scheduled job over the ledger: run, status, export."""
