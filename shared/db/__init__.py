"""Database access: the pool, the migration runner and one SQL module per table group."""
