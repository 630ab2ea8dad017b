-- OpenAI-compatible nodes that serve the Responses API themselves get Responses clients'
-- bodies passed through; the others have them translated onto chat completions.
ALTER TABLE nodes ADD COLUMN responses BOOLEAN NOT NULL DEFAULT FALSE;
