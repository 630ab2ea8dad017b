-- The client's fields a translation dropped (x-drover-dropped), comma-separated.
ALTER TABLE request_logs ADD COLUMN dropped TEXT;
