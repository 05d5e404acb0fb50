-- What a newcomer can expect at an event (SPEC "What to expect"): every part optional, so
-- one jsonb object ({"how_to_find", "greeter", "what_to_bring", "leaving_early_ok"}) with
-- only the parts given; NULL when the organiser says nothing. The API checks the lengths
-- and characters; the CHECK only keeps it an object.
ALTER TABLE events ADD COLUMN first_visit jsonb
    CHECK (first_visit IS NULL OR jsonb_typeof(first_visit) = 'object');
