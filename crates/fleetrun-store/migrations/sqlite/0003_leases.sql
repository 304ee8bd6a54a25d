-- Leases: work that any one server process may do (timers, retention), held by one holder until it expires.
-- With SQLite one process owns the database, so the table only keeps the code path the same as PostgreSQL's.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
