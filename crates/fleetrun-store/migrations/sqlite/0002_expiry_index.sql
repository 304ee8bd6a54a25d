-- The expiry backstop looks for unfinished commands by ExpiresAfter.
CREATE INDEX commands_by_status_expiry ON commands (status, expires_ms);
