-- Schema version 1 of the metadata store (PostgreSQL dialect, one copy per shard server): users,
-- login sessions, image records and the per-owner tag index. Applied by src/meta/migrate.c.
-- Every table has a shard column, the logical shard its row belongs to: moving a shard to
-- another server copies its rows table by table (WHERE shard = S), then the shard map changes.

-- id comes from ids_next on the user's shard, which ids_name_shard picks from the username, so
-- a name is unique across servers when it is unique on its own.
CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    shard SMALLINT NOT NULL,
    username TEXT NOT NULL UNIQUE,
    pwhash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- On the shard of the token's hash, the user on theirs: no foreign key across servers.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    shard SMALLINT NOT NULL,
    csrf_hash TEXT NOT NULL,
    user_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- On the owner's shard (the id carries it), so the join with users stays on one server.
CREATE TABLE images (
    id BIGINT PRIMARY KEY,
    shard SMALLINT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    visibility SMALLINT NOT NULL DEFAULT 0 CHECK (visibility IN (0, 1, 2)),
    created_at BIGINT NOT NULL,
    blob_key BIGINT NOT NULL,
    UNIQUE (owner_id, sha256)
);
CREATE INDEX images_owner ON images (owner_id, id DESC);
-- The public feed, one such query per server merged by id: "visibility = 2" literally.
CREATE INDEX images_public ON images (id DESC) WHERE visibility = 2;

CREATE TABLE image_tags (
    owner_id BIGINT NOT NULL,
    shard SMALLINT NOT NULL,
    tag TEXT NOT NULL,
    image_id BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    PRIMARY KEY (owner_id, tag, image_id)
);
CREATE INDEX image_tags_image ON image_tags (image_id);
