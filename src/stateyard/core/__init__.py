"""Infrastructure every area shares: errors, database, clock, ids."""
