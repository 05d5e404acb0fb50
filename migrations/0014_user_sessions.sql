-- Sessions of people signed in to their pages (/me), kept on the server so that signing
-- out, or erasing the profile, ends them (services/api/pages/session.py). The browser's
-- cookie holds a random session id; this table holds only its keyed hash (HMAC with
-- LOWKEY_SECRET_KEY) and the profile token sealed under a key derived from that id, so a
-- copy of the database opens no session and yields no profile token. `key_pending` is
-- true from sign-up until the calendar page has shown the private key once.
CREATE TABLE user_sessions (
    id_hash      bytea PRIMARY KEY,
    profile_id   bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    token_sealed bytea NOT NULL,
    key_pending  boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX user_sessions_profile_id ON user_sessions (profile_id);
-- Sign-in deletes the expired sessions.
CREATE INDEX user_sessions_expires_at ON user_sessions (expires_at);
