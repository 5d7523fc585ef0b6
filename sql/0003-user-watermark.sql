-- A user's own watermark for variants of their images, as JSON
-- {"text","position","opacity","scale"}; '' = the server's default.
ALTER TABLE users ADD COLUMN watermark TEXT NOT NULL DEFAULT '';
