-- Name search served by an index: on PostgreSQL that is the pg_trgm index of 0016; SQLite
-- gets its FTS5 trigram index here. Kept so both engines share one numbering.
SELECT 1;
