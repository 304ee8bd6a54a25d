-- Leases: work that any one replica may do (timers, retention), held by one replica until the lease
-- expires. Expiry is judged by the database's clock, so replicas' clocks need not agree.
CREATE TABLE leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
