from tests.integration.auth.support import alice, bob, db, notes

__all__ = ["alice", "bob", "db", "notes"]
