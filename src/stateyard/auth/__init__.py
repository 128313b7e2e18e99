"""Users, groups, password hashing, tokens and the one permission check."""
