-- Drover's store. Times are epoch milliseconds (BIGINT) on both backends; ids are text.

CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    url TEXT NOT NULL,
    priority TEXT NOT NULL,
    weight INTEGER NOT NULL,
    max_concurrency INTEGER,
    api_key TEXT,
    drained BOOLEAN NOT NULL DEFAULT FALSE,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE routes (
    alias TEXT PRIMARY KEY,
    target_model TEXT NOT NULL,
    nodes TEXT NOT NULL,          -- JSON array of node names; empty: any node
    fallbacks TEXT NOT NULL,      -- JSON array of route aliases, in order
    updated_ms BIGINT NOT NULL
);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,          -- JSON
    updated_ms BIGINT NOT NULL
);

CREATE TABLE config_history (
    revision BIGSERIAL PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    entity TEXT NOT NULL,         -- e.g. node:gpu-a, route:llama, setting:selector
    before TEXT,                  -- JSON, NULL when created
    after TEXT                    -- JSON, NULL when deleted
);
CREATE INDEX config_history_entity ON config_history (entity, revision);

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,  -- argon2 PHC string
    role TEXT NOT NULL,           -- admin | viewer
    created_ms BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,         -- shown to people, e.g. drv_ab12
    hash TEXT NOT NULL,           -- of the whole secret; the secret itself is never stored
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    expires_ms BIGINT,
    allowed_models TEXT,          -- JSON array; NULL: all
    rpm_limit INTEGER,
    tpm_limit INTEGER,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);
CREATE UNIQUE INDEX api_keys_prefix ON api_keys (prefix);

CREATE TABLE request_logs (
    id TEXT PRIMARY KEY,          -- made by Drover; request_id may repeat (clients send it)
    request_id TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    replica TEXT NOT NULL,
    api TEXT NOT NULL,
    key_id TEXT,
    model_requested TEXT NOT NULL,
    model_resolved TEXT,
    node TEXT,
    status INTEGER NOT NULL,
    error_kind TEXT,
    stream BOOLEAN NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    ttft_ms DOUBLE PRECISION,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    retries INTEGER NOT NULL,
    client_addr TEXT
);
-- The log and stats queries filter a time range, often with one of these.
CREATE INDEX request_logs_ts ON request_logs (ts_ms);
CREATE INDEX request_logs_model_ts ON request_logs (model_resolved, ts_ms);
CREATE INDEX request_logs_node_ts ON request_logs (node, ts_ms);
CREATE INDEX request_logs_key_ts ON request_logs (key_id, ts_ms);
CREATE INDEX request_logs_status_ts ON request_logs (status, ts_ms);
CREATE INDEX request_logs_request_id ON request_logs (request_id);

CREATE TABLE request_contents (
    log_id TEXT PRIMARY KEY REFERENCES request_logs (id) ON DELETE CASCADE,
    request_body TEXT,
    response_body TEXT,
    truncated BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE media_resources (
    sha256 TEXT PRIMARY KEY,
    mime TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    path TEXT NOT NULL,
    first_log_id TEXT,
    created_ms BIGINT NOT NULL
);
