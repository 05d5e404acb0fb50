-- How many profiles each re-score chunk scored. The swap compares it with the profiles its
-- range holds now: only a chunk with fewer (some were erased since it read them) needs its
-- partition searched for rows to drop (shared/db/rescore_tables.py). NULL (chunks written
-- before this column): searched.
ALTER TABLE rescore_chunks ADD COLUMN profiles integer;
