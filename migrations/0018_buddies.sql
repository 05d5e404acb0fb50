-- A trusted person (SPEC "A trusted person"): two users may link as buddies.
--
-- An invite is kept only as the keyed hash (HMAC with LOWKEY_SECRET_KEY) of its code, so a
-- copy of the database cannot redeem one. One open invite per profile: a new one replaces
-- the last (the primary key), and linking deletes both users' invites.
CREATE TABLE buddy_invites (
    profile_id bigint PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX buddy_invites_expires_at ON buddy_invites (expires_at);

-- A link is two rows, one per direction: the primary key keeps each profile to one buddy,
-- and erasing either profile removes both rows (both keys cascade).
CREATE TABLE buddies (
    profile_id bigint PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    buddy_id   bigint NOT NULL UNIQUE REFERENCES profiles (id) ON DELETE CASCADE,
    since      timestamptz NOT NULL DEFAULT now(),
    CHECK (profile_id <> buddy_id)
);
