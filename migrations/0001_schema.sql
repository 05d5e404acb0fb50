-- lowkey's schema for the whole SPEC domain: organisers, events, profiles,
-- weights, matches, the outbox, idempotency records, caches.
-- Runs on PostgreSQL 15 and 18; uses only core types (no extensions).

CREATE TABLE organisers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL,
    contact_email text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE,          -- HMAC-SHA256 of the API key
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

CREATE TABLE events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organiser_id     bigint NOT NULL REFERENCES organisers (id),
    title            text NOT NULL,
    description      text NOT NULL DEFAULT '',
    starts_at        timestamp NOT NULL,          -- local wall-clock time in timezone
    ends_at          timestamp NOT NULL,
    timezone         text NOT NULL,
    starts_at_utc    timestamptz NOT NULL,        -- first occurrence
    ends_at_utc      timestamptz NOT NULL,
    recurrence       text,                        -- RFC 5545 RRULE value, NULL for one-off
    over_at          timestamptz,                 -- end of the last occurrence; NULL = never over
    format           text NOT NULL CHECK (format IN ('in_person', 'online', 'hybrid')),
    venue_name       text,
    venue_address    text,
    lat              double precision,
    lon              double precision,
    online_url       text,
    tags             text[] NOT NULL DEFAULT '{}',
    group_size       integer NOT NULL CHECK (group_size BETWEEN 1 AND 10000),
    structure        text NOT NULL CHECK (structure IN ('structured', 'semi', 'open')),
    noise            text NOT NULL CHECK (noise IN ('quiet', 'moderate', 'loud')),
    talking_optional boolean NOT NULL,
    newcomer_support boolean NOT NULL,
    cost_cents       integer NOT NULL DEFAULT 0 CHECK (cost_cents >= 0),
    currency         text NOT NULL DEFAULT 'EUR',
    accessibility    text[] NOT NULL DEFAULT '{}',
    languages        text[] NOT NULL DEFAULT '{}',
    intensity        smallint NOT NULL CHECK (intensity BETWEEN 1 AND 5),
    status           text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled')),
    sequence         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (format = 'online' OR (lat IS NOT NULL AND lon IS NOT NULL))
);
CREATE INDEX events_organiser ON events (organiser_id);
-- Geographic search: a point per venue in (lon, lat) degrees, GiST-indexed.
CREATE INDEX events_venue_point ON events USING gist (point(lon, lat)) WHERE lat IS NOT NULL;
CREATE INDEX events_tags ON events USING gin (tags);
CREATE INDEX events_starts ON events (starts_at_utc);
CREATE INDEX events_live ON events (over_at) WHERE status = 'scheduled';

CREATE TABLE profiles (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash          bytea NOT NULL UNIQUE,    -- HMAC-SHA256 of the profile token
    feed_token_hash     bytea NOT NULL UNIQUE,    -- HMAC-SHA256 of the feed token
    feed_token_sealed   bytea NOT NULL,           -- feed token, AES-GCM, key from profile token
    display_name        text,
    home_lat            double precision NOT NULL CHECK (home_lat BETWEEN -90 AND 90),
    home_lon            double precision NOT NULL CHECK (home_lon BETWEEN -180 AND 180),
    radius_km           double precision NOT NULL CHECK (radius_km > 0),
    interests           jsonb NOT NULL DEFAULT '{}',   -- slug -> weight in (0, 1]
    comfort_level       smallint NOT NULL CHECK (comfort_level BETWEEN 1 AND 5),
    open_to_stretch     boolean NOT NULL DEFAULT false,
    formats             text[] NOT NULL DEFAULT '{in_person,online}',
    max_cost_cents      integer,
    currency            text,
    languages           text[] NOT NULL DEFAULT '{}',
    accessibility_needs text[] NOT NULL DEFAULT '{}',
    availability        jsonb NOT NULL DEFAULT '[]',
    timezone            text NOT NULL DEFAULT 'UTC',
    max_events_per_week smallint NOT NULL DEFAULT 3 CHECK (max_events_per_week >= 1),
    matches_version     bigint NOT NULL DEFAULT 0, -- bumped whenever this profile's matches change
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- The area a profile's radius can reach, as a (lon, lat) box with a margin, so
-- "which profiles reach this venue" is one GiST lookup followed by the exact check.
-- 110 km per degree of latitude is below the true minimum (110.57 km), so the box
-- is never too small; longitude uses the cosine at the box's pole-ward edge.
CREATE INDEX profiles_reach ON profiles USING gist (
    box(
        point(
            home_lon - radius_km / (110.0 * greatest(cos(radians(least(abs(home_lat) + radius_km / 110.0 + 0.01, 89.9))), 0.001)),
            home_lat - radius_km / 110.0 - 0.01
        ),
        point(
            home_lon + radius_km / (110.0 * greatest(cos(radians(least(abs(home_lat) + radius_km / 110.0 + 0.01, 89.9))), 0.001)),
            home_lat + radius_km / 110.0 + 0.01
        )
    )
);
CREATE INDEX profiles_online ON profiles (id) WHERE 'online' = ANY (formats);

CREATE TABLE hidden_events (
    profile_id bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    event_id   bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, event_id)
);
CREATE INDEX hidden_events_event ON hidden_events (event_id);

CREATE TABLE weight_versions (
    version           integer PRIMARY KEY,
    distance          double precision NOT NULL CHECK (distance >= 0),
    interest          double precision NOT NULL CHECK (interest >= 0),
    comfort           double precision NOT NULL CHECK (comfort >= 0),
    distance_decay_km double precision NOT NULL CHECK (distance_decay_km > 0),
    online_score      double precision NOT NULL CHECK (online_score BETWEEN 0 AND 1),
    stretch_penalty   double precision NOT NULL CHECK (stretch_penalty BETWEEN 0 AND 1),
    min_score         double precision NOT NULL CHECK (min_score BETWEEN 0 AND 1),
    note              text NOT NULL,
    author            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (distance + interest + comfort > 0)
);
INSERT INTO weight_versions
    (version, distance, interest, comfort, distance_decay_km, online_score, stretch_penalty, min_score, note)
VALUES (1, 1, 1, 1, 5, 0.6, 0.4, 0.3, 'defaults');

-- Exactly one row: which weight version is active.
CREATE TABLE active_weights (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version      integer NOT NULL REFERENCES weight_versions (version),
    activated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO active_weights (version) VALUES (1);

CREATE TABLE matches (
    profile_id      bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    event_id        bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    score           real NOT NULL,
    distance_score  real NOT NULL,
    interest_score  real NOT NULL,
    comfort_score   real NOT NULL,
    distance_km     real,                         -- NULL when matched online
    explanation     text NOT NULL,                -- without the distance (the feed's text)
    weight_version  integer NOT NULL,             -- the weights that produced this row
    scored_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, event_id)
);
CREATE INDEX matches_event ON matches (event_id);
CREATE INDEX matches_profile_score ON matches (profile_id, score DESC);

-- Transactional outbox: "this must be (re-)scored", written with the change itself.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('event', 'profile', 'rescore')),
    subject_id  bigint,                           -- event id, profile id or weight version
    created_at  timestamptz NOT NULL DEFAULT now(),
    enqueued_at timestamptz,
    done_at     timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE done_at IS NULL;
CREATE INDEX outbox_subject ON outbox (kind, subject_id);

-- One row per full re-score run (after a weight change, or the nightly check).
CREATE TABLE rescore_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    weight_version integer NOT NULL REFERENCES weight_versions (version),
    reason         text NOT NULL,
    chunks_total   integer NOT NULL DEFAULT 0,
    chunks_done    integer NOT NULL DEFAULT 0,
    pairs          bigint NOT NULL DEFAULT 0,
    matches        bigint NOT NULL DEFAULT 0,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);

-- Idempotency-Key records, per caller; the key itself is stored only as a keyed hash.
CREATE TABLE idempotency_records (
    caller_hash  bytea NOT NULL,
    key_hash     bytea NOT NULL,
    request_hash bytea NOT NULL,
    status_code  integer,                         -- NULL while the first request runs
    response     bytea,                           -- sealed with a key from the Idempotency-Key when it holds a secret
    sealed       boolean NOT NULL DEFAULT false,
    profile_id   bigint REFERENCES profiles (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller_hash, key_hash)
);
CREATE INDEX idempotency_records_created ON idempotency_records (created_at);

-- Geocoder answers, so each address is asked once (Nominatim's usage policy).
CREATE TABLE geocode_cache (
    query      text PRIMARY KEY,
    lat        double precision,
    lon        double precision,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Rendered feeds, keyed by what they were rendered from (matches version, week).
CREATE TABLE feed_renders (
    profile_id    bigint PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    render_key    text NOT NULL,
    body          bytea NOT NULL,
    etag          text NOT NULL,
    last_modified timestamptz NOT NULL
);
