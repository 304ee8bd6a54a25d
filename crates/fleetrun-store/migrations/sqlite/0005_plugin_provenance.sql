-- What an aws:downloadContent step fetched (source, revision, every file's sha256), as JSON; '' for other steps.
ALTER TABLE plugins ADD COLUMN provenance_json TEXT NOT NULL DEFAULT '';
