"""Talking to the outside world: mail, outbound HTTP, OAuth connections."""
