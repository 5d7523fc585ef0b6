-- Schema version 4 of the metadata store (SQLite dialect): albums, the images in them, and the
-- share links that open an image or an album without a login (issue #4).

-- id comes from ids_next on the owner's shard. cover_id is the cover the owner chose (NULL: the
-- newest image of the album is shown); deleting that image clears it. image_count is kept by
-- the triggers below, so reading an album never counts its images.
CREATE TABLE albums (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    cover_id INTEGER REFERENCES images (id) ON DELETE SET NULL,
    image_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX albums_owner ON albums (owner_id, id DESC);
-- Deleting an image looks up the albums it covers.
CREATE INDEX albums_cover ON albums (cover_id);

-- The primary key is the index that pages an album's images, newest image id first; a row goes
-- with its album or its image.
CREATE TABLE album_images (
    album_id INTEGER NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    PRIMARY KEY (album_id, image_id DESC)
) WITHOUT ROWID;
CREATE INDEX album_images_image ON album_images (image_id);

-- They fire for the rows that cascade from a deleted image too, so its albums' counts follow.
CREATE TRIGGER album_images_added AFTER INSERT ON album_images BEGIN
    UPDATE albums SET image_count = image_count + 1 WHERE id = NEW.album_id;
END;
CREATE TRIGGER album_images_removed AFTER DELETE ON album_images BEGIN
    UPDATE albums SET image_count = image_count - 1 WHERE id = OLD.album_id;
END;

-- A link opens exactly one image or one album; it goes with its target, and deleting the row
-- revokes it. The token is not stored: it is signed over id and expires_at, so it can be
-- recomputed from the row. expires_at is unix ms, 0 for never.
CREATE TABLE links (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id),
    image_id INTEGER REFERENCES images (id) ON DELETE CASCADE,
    album_id INTEGER REFERENCES albums (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    CHECK ((image_id IS NULL) != (album_id IS NULL))
);
CREATE INDEX links_owner ON links (owner_id, id DESC);
CREATE INDEX links_image ON links (image_id);
CREATE INDEX links_album ON links (album_id);
