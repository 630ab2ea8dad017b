-- In a cluster, every replica applies each config change from the shared bucket; the change's
-- bucket revision makes its history row unique, so replicas sharing one PostgreSQL record it
-- once.
ALTER TABLE config_history ADD COLUMN cluster_revision BIGINT;
CREATE UNIQUE INDEX config_history_cluster_revision ON config_history (cluster_revision);
