"""The one durable job queue, its workers, and scheduled tasks on top of it."""
