-- Schema version 5 of the metadata store (PostgreSQL dialect): API keys, per-user quota
-- overrides and the usage counters that make quota checks O(1) (issue #4).

-- Overrides: NULL = the server's --quota-bytes / --quota-images, 0 = unlimited.
ALTER TABLE users ADD COLUMN quota_bytes BIGINT CHECK (quota_bytes >= 0);
ALTER TABLE users ADD COLUMN quota_images BIGINT CHECK (quota_images >= 0);
ALTER TABLE users ADD COLUMN image_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN bytes_used BIGINT NOT NULL DEFAULT 0;
UPDATE users SET
    image_count = (SELECT count(*) FROM images WHERE owner_id = users.id),
    bytes_used = (SELECT coalesce(sum(bytes), 0) FROM images WHERE owner_id = users.id);

-- On the owner's shard (the id carries it), so listing, counting and revoking stay on one
-- server; key_index below finds a key from its hash.
CREATE TABLE api_keys (
    id BIGINT PRIMARY KEY,
    shard SMALLINT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    scope SMALLINT NOT NULL CHECK (scope IN (0, 1)),
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id, id DESC);

-- On the shard of the key's hash: which key (on its owner's shard) has this hash. Written after
-- the key and removed after it, so a row whose key is gone finds nothing.
CREATE TABLE key_index (
    key_hash TEXT PRIMARY KEY,
    shard SMALLINT NOT NULL,
    key_id BIGINT NOT NULL
);
