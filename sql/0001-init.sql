-- Schema version 1 of the metadata store (SQLite dialect): users, login sessions, image
-- records and the per-owner tag index. Applied once by src/meta/migrate.c inside a transaction.

-- id comes from ids_next (time-ordered, 64-bit); INTEGER PRIMARY KEY makes it the rowid.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    pwhash TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Only hashes of the bearer and CSRF tokens are stored, so a leaked database grants no login.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    csrf_hash TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- No cascade from users: removing a user must first remove its images and their blobs.
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id),
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    visibility INTEGER NOT NULL DEFAULT 0 CHECK (visibility IN (0, 1, 2)),
    created_at INTEGER NOT NULL,
    blob_key INTEGER NOT NULL,
    UNIQUE (owner_id, sha256)
);
CREATE INDEX images_owner ON images (owner_id, id DESC);
-- The public feed: queries must say "visibility = 2" literally for the planner to use it.
CREATE INDEX images_public ON images (id DESC) WHERE visibility = 2;

-- One row per (image, tag), written in the same transaction as images.tags.
CREATE TABLE image_tags (
    owner_id INTEGER NOT NULL,
    tag TEXT NOT NULL,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    PRIMARY KEY (owner_id, tag, image_id)
) WITHOUT ROWID;
CREATE INDEX image_tags_image ON image_tags (image_id);
