-- keep_current: a model's column stays up to date for rows inserted later and rows
-- whose image changes. A row trigger remembers which rows a statement wrote; a
-- statement trigger embeds them at the end of the statement, 256 images per encoder
-- run, so a COPY of many rows runs the encoder a few times, not once per row.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SELECT load_csv('kc_source', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
SELECT model_name, epochs FROM build_model('kc_model', 'SELECT * FROM kc_source', image_col => 'img_path',
                                           max_epochs => 1);
RESET client_min_messages;

-- What every image's embedding must be, and a check of a table against it: rows
-- without an embedding, and rows whose embedding is not their own image's.
CREATE TEMP TABLE kc_expected AS SELECT DISTINCT img_path, embed_image('kc_model', img_path) AS e FROM kc_source;
CREATE FUNCTION pg_temp.kc_check(t regclass, OUT rows bigint, OUT without_embedding bigint, OUT wrong bigint)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('SELECT count(*), count(*) FILTER (WHERE p.kc_model_simclr IS NULL),
                         count(*) FILTER (WHERE p.kc_model_simclr IS NOT NULL
                                            AND (e.e IS NULL OR (p.kc_model_simclr <=> e.e) > 1e-6))
                    FROM %s p LEFT JOIN kc_expected e USING (img_path)', t)
    INTO rows, without_embedding, wrong;
END $$;
-- Encoder runs of this session since the last call.
CREATE TEMP TABLE kc_runs (n bigint);
INSERT INTO kc_runs VALUES (encoder_runs());
CREATE FUNCTION pg_temp.kc_encoder_runs() RETURNS bigint LANGUAGE sql AS $$
  WITH old AS (SELECT n FROM kc_runs), upd AS (UPDATE kc_runs SET n = encoder_runs() RETURNING n)
  SELECT upd.n - old.n FROM upd, old
$$;

-- A table of 50 photos: keep_current adds and fills the column, as convert would,
-- and returns how many rows it embedded.
CREATE TABLE kc_photos (id int, img_path text, note text);
INSERT INTO kc_photos SELECT row_number() OVER (ORDER BY filename), img_path, NULL
  FROM kc_source ORDER BY filename LIMIT 50;
SELECT keep_current('kc_model', 'kc_photos', image_col => 'img_path');
SELECT * FROM pg_temp.kc_check('kc_photos');
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'kc_photos'::regclass ORDER BY 1;
SELECT pg_temp.kc_encoder_runs() > 0 AS ran;

-- INSERT of one row, then of 100 rows in one statement: one encoder run each.
INSERT INTO kc_photos VALUES (51, 'tutorial_data/mnist_data/test/923.jpg', 'one row');
SELECT pg_temp.kc_encoder_runs() AS encoder_runs;
INSERT INTO kc_photos SELECT 100 + row_number() OVER (ORDER BY filename), img_path, 'insert select'
  FROM kc_source ORDER BY filename LIMIT 100;
SELECT pg_temp.kc_encoder_runs() AS encoder_runs;
SELECT * FROM pg_temp.kc_check('kc_photos');

-- COPY of 600 rows: three encoder runs (256 + 256 + 88 images).
\copy (SELECT 1000 + g, img_path, 'copy' FROM generate_series(1, 3) g, kc_source ORDER BY g, filename) TO '/tmp/image_search_kc_copy.csv' WITH (FORMAT csv)
\copy kc_photos (id, img_path, note) FROM '/tmp/image_search_kc_copy.csv' WITH (FORMAT csv)
SELECT pg_temp.kc_encoder_runs() AS encoder_runs;
SELECT * FROM pg_temp.kc_check('kc_photos');

-- UPDATE of other columns does not re-embed; UPDATE of the image does.
UPDATE kc_photos SET note = 'edited' WHERE id <= 10;
SELECT pg_temp.kc_encoder_runs() AS encoder_runs;
UPDATE kc_photos SET img_path = (SELECT img_path FROM kc_source ORDER BY filename DESC LIMIT 1) WHERE id <= 10;
SELECT pg_temp.kc_encoder_runs() AS encoder_runs;
SELECT * FROM pg_temp.kc_check('kc_photos');
-- An image set to NULL leaves no stale embedding behind.
UPDATE kc_photos SET img_path = NULL WHERE id = 1;
SELECT kc_model_simclr IS NULL AS cleared FROM kc_photos WHERE id = 1;
DELETE FROM kc_photos WHERE id = 1;

-- A bad image in a later INSERT is an ERROR naming the row, and nothing is inserted.
INSERT INTO kc_photos VALUES (2000, 'tutorial_data/mnist_data/test/923.jpg', 'good'),
                             (2001, '/nonexistent/bad.jpg', 'bad');
SELECT count(*) AS inserted FROM kc_photos WHERE id >= 2000;
-- Asked to skip bad rows, it warns and leaves that row without an embedding.
SELECT keep_current('kc_model', 'kc_photos', image_col => 'img_path', skip_bad_rows => true);
INSERT INTO kc_photos VALUES (2000, 'tutorial_data/mnist_data/test/923.jpg', 'good'),
                             (2001, '/nonexistent/bad.jpg', 'bad');
SELECT id, kc_model_simclr IS NOT NULL AS has_embedding FROM kc_photos WHERE id >= 2000 ORDER BY id;
DELETE FROM kc_photos WHERE id = 2001;
SELECT * FROM pg_temp.kc_check('kc_photos');

-- Search works on the kept-current column as on a converted one.
SELECT id, img_path FROM kc_photos
 ORDER BY kc_model_simclr <=> embed_image('kc_model', 'tutorial_data/mnist_data/test/923.jpg'), id LIMIT 3;

-- stop_keeping_current removes the triggers (the column and its values stay);
-- keep_current again embeds the rows that missed out meanwhile.
SELECT stop_keeping_current('kc_model', 'kc_photos');
SELECT stop_keeping_current('kc_model', 'kc_photos') AS again;
INSERT INTO kc_photos VALUES (3000, 'tutorial_data/mnist_data/test/923.jpg', 'while stopped');
SELECT kc_model_simclr IS NULL AS not_embedded FROM kc_photos WHERE id = 3000;
SELECT keep_current('kc_model', 'kc_photos', image_col => 'img_path') AS caught_up;
SELECT * FROM pg_temp.kc_check('kc_photos');

-- A partitioned table (two levels): rows inserted through the parent and straight
-- into a partition, and rows moved between partitions, all get their own image's
-- embedding.
CREATE TABLE kc_part (label int, img_path text) PARTITION BY LIST (label);
CREATE TABLE kc_part_low PARTITION OF kc_part FOR VALUES IN (0, 1, 2, 3, 4) PARTITION BY HASH (img_path);
CREATE TABLE kc_part_low_a PARTITION OF kc_part_low FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE kc_part_low_b PARTITION OF kc_part_low FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE kc_part_high PARTITION OF kc_part FOR VALUES IN (5, 6, 7, 8, 9);
SELECT keep_current('kc_model', 'kc_part', image_col => 'img_path');
INSERT INTO kc_part SELECT label, img_path FROM kc_source;
INSERT INTO kc_part_high SELECT label, img_path FROM kc_source WHERE label >= 5;
UPDATE kc_part SET label = 9 - label WHERE label IN (0, 9);
SELECT * FROM pg_temp.kc_check('kc_part');
SELECT tableoid::regclass AS partition, count(*) FROM kc_part GROUP BY 1 ORDER BY 1;

-- What is refused, before anything changes.
SELECT keep_current('no_such_model', 'kc_photos', image_col => 'img_path');
SELECT keep_current('kc_model', 'kc_photos', image_col => 'no_such_column');
CREATE VIEW kc_view AS SELECT * FROM kc_photos;
SELECT keep_current('kc_model', 'kc_view', image_col => 'img_path');

-- drop_model removes the model's triggers; the tables keep working.
SET client_min_messages = warning;
SELECT model_name FROM build_model('kc_other', 'SELECT * FROM kc_source LIMIT 64', image_col => 'img_path', max_epochs => 1);
RESET client_min_messages;
SELECT keep_current('kc_other', 'kc_photos', image_col => 'img_path') > 0 AS filled;
SELECT count(*) AS other_triggers FROM pg_trigger WHERE tgname LIKE 'keep_kc_other%';
SELECT drop_model('kc_other');
SELECT count(*) AS other_triggers FROM pg_trigger WHERE tgname LIKE 'keep_kc_other%';
INSERT INTO kc_photos VALUES (4000, 'tutorial_data/mnist_data/test/923.jpg', 'after drop_model');
SELECT kc_model_simclr IS NOT NULL AS still_kept_by_kc_model FROM kc_photos WHERE id = 4000;

DROP VIEW kc_view;
DROP TABLE kc_photos, kc_part, kc_source;
SELECT drop_model('kc_model');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'keep_kc_%';
