-- Schema version 3 of the metadata store (PostgreSQL dialect): a user's own watermark for
-- variants of their images, as JSON {"text","position","opacity","scale"}; '' = the server's.
ALTER TABLE users ADD COLUMN watermark TEXT NOT NULL DEFAULT '';
