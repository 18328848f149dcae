-- EXIF orientation: a photo stored lying down with Orientation 6 (as a phone held
-- sideways writes it) embeds like the same picture stored upright, through the full
-- decoder (small file) and the 1/8-scale JPEG decoder (large file), in convert and
-- embed_image. The same stored pixels without the tag embed differently, so the
-- comparison can fail. Fixtures: test/data/orientation/make_fixtures.py (a white "F").
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SELECT load_csv('or_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
SELECT model_name, epochs FROM build_model('or_model', 'SELECT * FROM or_train LIMIT 64',
                                           image_col => 'img_path', max_epochs => 1);
RESET client_min_messages;

CREATE TABLE or_photos (size text, kind text, img_path text, PRIMARY KEY (size, kind));
INSERT INTO or_photos
  SELECT size, kind, format('test/data/orientation/f_%s%s.jpg', size, nullif('_' || kind, '_upright'))
  FROM unnest(ARRAY['small', 'large']) size, unnest(ARRAY['upright', 'tag6', 'untagged']) kind;
SELECT convert('or_model', 'or_photos', image_col => 'img_path');

-- Cosine of each stored way to the upright picture, per size.
CREATE VIEW or_cosines AS
  SELECT p.size, p.kind, 1 - (p.or_model_simclr <=> u.or_model_simclr) AS cosine
  FROM or_photos p JOIN or_photos u ON u.size = p.size AND u.kind = 'upright' WHERE p.kind <> 'upright';
SELECT t.size, t.cosine > 0.99 AS tagged_like_upright, t.cosine - n.cosine > 0.05 AS untagged_differs
  FROM or_cosines t JOIN or_cosines n ON n.size = t.size AND n.kind = 'untagged'
  WHERE t.kind = 'tag6' ORDER BY t.size;

-- embed_image reads the tag too, and gives what convert stored.
SELECT size, 1 - (embed_image('or_model', img_path) <=> or_model_simclr) > 0.9999 AS same_as_convert
  FROM or_photos WHERE kind = 'tag6' ORDER BY size;

DROP VIEW or_cosines;
DROP TABLE or_train, or_photos;
SELECT drop_model('or_model');
RESET search_path;
