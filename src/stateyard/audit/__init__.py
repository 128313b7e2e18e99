"""The append-only audit log of row changes."""
