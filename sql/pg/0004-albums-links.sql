-- Schema version 4 of the metadata store (PostgreSQL dialect): albums, the images in them, and
-- the share links that open an image or an album without a login (issue #4). All on the
-- owner's shard, like the images they name.

CREATE TABLE albums (
    id BIGINT PRIMARY KEY,
    shard SMALLINT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    cover_id BIGINT REFERENCES images (id) ON DELETE SET NULL,
    image_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX albums_owner ON albums (owner_id, id DESC);
CREATE INDEX albums_cover ON albums (cover_id);

-- The primary key pages an album's images, newest image id first (scanned backwards).
CREATE TABLE album_images (
    album_id BIGINT NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    image_id BIGINT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    shard SMALLINT NOT NULL,
    PRIMARY KEY (album_id, image_id)
);
CREATE INDEX album_images_image ON album_images (image_id);

-- Keeps albums.image_count, for the rows that cascade from a deleted image too.
CREATE FUNCTION album_images_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE albums SET image_count = image_count + 1 WHERE id = NEW.album_id;
    ELSE
        UPDATE albums SET image_count = image_count - 1 WHERE id = OLD.album_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER album_images_count AFTER INSERT OR DELETE ON album_images
    FOR EACH ROW EXECUTE FUNCTION album_images_count();

CREATE TABLE links (
    id BIGINT PRIMARY KEY,
    shard SMALLINT NOT NULL,
    owner_id BIGINT NOT NULL REFERENCES users (id),
    image_id BIGINT REFERENCES images (id) ON DELETE CASCADE,
    album_id BIGINT REFERENCES albums (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK ((image_id IS NULL) != (album_id IS NULL))
);
CREATE INDEX links_owner ON links (owner_id, id DESC);
CREATE INDEX links_image ON links (image_id);
CREATE INDEX links_album ON links (album_id);
