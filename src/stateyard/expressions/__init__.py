"""The condition language and the template renderer, shared by every area."""
