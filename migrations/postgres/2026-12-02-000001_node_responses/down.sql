ALTER TABLE nodes DROP COLUMN responses;
