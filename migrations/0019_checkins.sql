-- Check-ins (SPEC "Check-ins"): how an occurrence went, and the graded steps they may take.

-- `adapt_comfort`: the user's consent to check-ins moving the comfort level (off by
-- default). `stretch_paused_until`: while in the future, scoring reads open_to_stretch as
-- false (shared/db/scoring_inputs.py). `comfort_count_from`: the rules count only answers
-- for occurrences that started after it; any change of level, and giving consent, move it.
ALTER TABLE profiles
    ADD COLUMN adapt_comfort boolean NOT NULL DEFAULT false,
    ADD COLUMN stretch_paused_until timestamptz,
    ADD COLUMN comfort_count_from timestamptz NOT NULL DEFAULT now();

-- "The event was a match for them at that occurrence's start": written by the worker's
-- cron as occurrences of matched events start, with the event's intensity and the user's
-- comfort level then; kept until 14 days after the occurrence ended.
CREATE TABLE match_occurrences (
    profile_id    bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    event_id      bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    starts_at     timestamp NOT NULL,        -- local wall-clock start in the event's zone
    starts_at_utc timestamptz NOT NULL,
    ends_at_utc   timestamptz NOT NULL,
    intensity     smallint NOT NULL,
    comfort_level smallint NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (profile_id, event_id, starts_at)
);
CREATE INDEX match_occurrences_ends_at ON match_occurrences (ends_at_utc);
CREATE INDEX match_occurrences_event ON match_occurrences (event_id);

-- Up to when the cron has recorded starts (one row): the next run takes it from there.
CREATE TABLE occurrence_recorder (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    recorded_until timestamptz NOT NULL
);

-- The answers. No foreign key to events: a person's own history outlives an event that
-- its organiser deletes. One answer per occurrence; answering again replaces it.
CREATE TABLE checkins (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id     bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    event_id       bigint NOT NULL,
    occurrence     timestamp NOT NULL,       -- local wall-clock start in the event's zone
    occurrence_utc timestamptz NOT NULL,
    answer         text NOT NULL CHECK (answer IN ('went_fine', 'too_much', 'didnt_go')),
    intensity      smallint NOT NULL,
    comfort_level  smallint NOT NULL,
    answered_at    timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (profile_id, event_id, occurrence)
);
CREATE INDEX checkins_profile_occurrence ON checkins (profile_id, occurrence_utc);

-- Every change of level and every stretch pause the rules made, with why and the
-- check-ins behind it; a pause has its end (moved to when it ended early, if it did).
CREATE TABLE comfort_changes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id     bigint NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    kind           text NOT NULL CHECK (kind IN ('raised', 'lowered', 'stretch_paused')),
    from_level     smallint NOT NULL,
    to_level       smallint NOT NULL,
    reason         text NOT NULL,
    checkin_ids    bigint[] NOT NULL,
    pause_ends_at  timestamptz,
    ended_early    boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'stretch_paused') = (pause_ends_at IS NOT NULL))
);
CREATE INDEX comfort_changes_profile ON comfort_changes (profile_id, id);
-- The cron that ends pauses finds them here.
CREATE INDEX profiles_stretch_paused ON profiles (stretch_paused_until)
    WHERE stretch_paused_until IS NOT NULL;
