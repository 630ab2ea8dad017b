-- OpenAI-compatible and Anthropic nodes: models listed by hand (a JSON array; empty: found by
-- probes) and whether to probe at all (off for paid APIs). The API key column exists since init.
ALTER TABLE nodes ADD COLUMN models TEXT NOT NULL DEFAULT '[]';
ALTER TABLE nodes ADD COLUMN probe BOOLEAN NOT NULL DEFAULT TRUE;
