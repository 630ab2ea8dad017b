DROP INDEX config_history_cluster_revision;
ALTER TABLE config_history DROP COLUMN cluster_revision;
