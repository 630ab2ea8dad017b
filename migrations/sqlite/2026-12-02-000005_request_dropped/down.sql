ALTER TABLE request_logs DROP COLUMN dropped;
