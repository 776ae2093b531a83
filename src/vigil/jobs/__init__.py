"""The job queue: background work kept in the database (an outbox), taken by ``vigil worker``."""
