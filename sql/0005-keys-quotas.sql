-- Schema version 5 of the metadata store (SQLite dialect): API keys, per-user quota overrides
-- and the usage counters that make quota checks O(1) (issue #4). Independent of 0004, so a
-- database that got this one first still takes 0004 later (migrate_run fills gaps).

-- Overrides: NULL = the server's --quota-bytes / --quota-images, 0 = unlimited.
ALTER TABLE users ADD COLUMN quota_bytes INTEGER CHECK (quota_bytes >= 0);
ALTER TABLE users ADD COLUMN quota_images INTEGER CHECK (quota_images >= 0);
-- Originals only, kept in the transactions that insert and delete images.
ALTER TABLE users ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN bytes_used INTEGER NOT NULL DEFAULT 0;
UPDATE users SET
    image_count = (SELECT count(*) FROM images WHERE owner_id = users.id),
    bytes_used = (SELECT coalesce(sum(bytes), 0) FROM images WHERE owner_id = users.id);

-- Only the SHA-256 of a key is stored, so a leaked database grants nothing; prefix ("kho_" and
-- the key's first 8 hex digits) lets its owner tell keys apart. scope: 0 read, 1 read-write.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    scope INTEGER NOT NULL CHECK (scope IN (0, 1)),
    prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id, id DESC);
