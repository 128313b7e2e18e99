"""Actions: ``POST /action/<entity>/<name>`` calls that answer with client directives."""
