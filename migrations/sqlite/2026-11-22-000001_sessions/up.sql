-- Admin sessions: a user logs in with a password and gets a token that expires. Only the
-- token's SHA-256 is kept, so a leaked database holds no usable session.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);
