-- Schema version 2 of the metadata store (PostgreSQL dialect): photo details read from the
-- upload, its blur placeholder, and the record of stored variants (issue #3).

ALTER TABLE images ADD COLUMN alpha SMALLINT NOT NULL DEFAULT 0 CHECK (alpha IN (0, 1));
-- EXIF DateTimeOriginal as unix ms; 0 unknown.
ALTER TABLE images ADD COLUMN taken_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN camera_make TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN camera_model TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN has_gps SMALLINT NOT NULL DEFAULT 0 CHECK (has_gps IN (0, 1));
-- NULL unless has_gps.
ALTER TABLE images ADD COLUMN gps_lat DOUBLE PRECISION;
ALTER TABLE images ADD COLUMN gps_lon DOUBLE PRECISION;
ALTER TABLE images ADD COLUMN placeholder TEXT NOT NULL DEFAULT '';

-- key is the variant's 64-bit blob key stored by bit pattern (the top bit set reads negative).
-- On its image's shard.
CREATE TABLE variants (
    key BIGINT PRIMARY KEY,
    shard SMALLINT NOT NULL,
    image_id BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    spec TEXT NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX variants_image ON variants (image_id);
