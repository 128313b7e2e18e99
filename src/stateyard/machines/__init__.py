"""State machines on rows: declared lifecycles with audited, atomic, explained transitions."""
