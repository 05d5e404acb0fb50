-- Discreet calendars (SPEC "Discreet calendars"): a profile's feed is `standard` or
-- `discreet`; a discreet feed shows `calendar_label` as its name and every entry's title.
ALTER TABLE profiles
    ADD COLUMN feed_style text NOT NULL DEFAULT 'standard'
        CHECK (feed_style IN ('standard', 'discreet')),
    ADD COLUMN calendar_label text NOT NULL DEFAULT 'Plans'
        CHECK (char_length(calendar_label) BETWEEN 1 AND 40);
