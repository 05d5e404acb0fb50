-- Admin console sessions, kept on the server so that signing out, or a new
-- LOWKEY_ADMIN_KEY, ends them (services/api/console/session.py). The browser's cookie
-- holds a random session id; this table holds only its keyed hash (HMAC with
-- LOWKEY_SECRET_KEY), so a copy of the database gives no working session. The admin
-- key's fingerprint (also a keyed hash) is what a session was made under: a session whose
-- fingerprint is not the current key's is refused and deleted.
CREATE TABLE console_sessions (
    id_hash           bytea PRIMARY KEY,
    admin_fingerprint bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);
-- Sign-in deletes the expired sessions.
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
