-- A stored render also keeps a digest of what its bytes were made from: the entries the
-- weekly cap selected, with their events' data, sequences, EXDATEs and texts. When a
-- feed's cache key moves on (a weight change, a re-score's swap, a match write) and its
-- selection comes out the same, the bytes are kept and only the key moves: no render.
-- NULL for renders stored before this column: they are made once more.
ALTER TABLE feed_renders ADD COLUMN selection text;
