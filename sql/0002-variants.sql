-- Schema version 2 of the metadata store (SQLite dialect): photo details read from the upload,
-- its blur placeholder, and the record of stored variants (issue #3).

-- Defaults describe what 0001-era rows are: nothing known yet.
ALTER TABLE images ADD COLUMN alpha INTEGER NOT NULL DEFAULT 0 CHECK (alpha IN (0, 1));
-- EXIF DateTimeOriginal as unix ms; 0 unknown.
ALTER TABLE images ADD COLUMN taken_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE images ADD COLUMN camera_make TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN camera_model TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN has_gps INTEGER NOT NULL DEFAULT 0 CHECK (has_gps IN (0, 1));
-- NULL unless has_gps.
ALTER TABLE images ADD COLUMN gps_lat REAL;
ALTER TABLE images ADD COLUMN gps_lon REAL;
-- ThumbHash in base64, '' until computed after the upload.
ALTER TABLE images ADD COLUMN placeholder TEXT NOT NULL DEFAULT '';

-- key is the variant's 64-bit blob key stored by bit pattern (the top bit set reads negative).
-- Variant rows go with their image; their blobs are dropped by the caller from variant_keys.
CREATE TABLE variants (
    key INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    spec TEXT NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX variants_image ON variants (image_id);
