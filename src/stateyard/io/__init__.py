"""Moving rows in and out of files."""
