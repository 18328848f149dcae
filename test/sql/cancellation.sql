-- Cancellation and errors mid-way: build_model and convert check for interrupts
-- between batches, and everything they write is in the caller's transaction, so a
-- canceled or failed statement leaves no model row, no new column and no changed row.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SELECT load_csv('cx_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
SELECT load_csv('cx_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
SELECT model_name, epochs FROM build_model('cx_model', 'SELECT * FROM cx_train LIMIT 64',
                                           image_col => 'img_path', max_epochs => 1);
RESET client_min_messages;

--
-- statement_timeout during a long build (100 epochs over 1,000 images).
--
SET client_min_messages = warning;
SET statement_timeout = '300ms';
SELECT * FROM build_model('cx_long', 'SELECT * FROM cx_train', image_col => 'img_path', max_epochs => 100);
RESET statement_timeout;
RESET client_min_messages;
SELECT count(*) AS cx_long_models FROM models WHERE name = 'cx_long';

--
-- statement_timeout during convert of 20,000 rows: no new column, no changed row.
--
CREATE TABLE cx_big AS SELECT t.img_path, t.filename, g AS copy FROM cx_test t, generate_series(1, 100) g;
SELECT count(*) FROM cx_big;
SELECT md5(string_agg(t::text, ',' ORDER BY copy, filename)) AS checksum_before FROM cx_big t \gset
SET statement_timeout = '300ms';
SELECT convert('cx_model', 'cx_big', image_col => 'img_path');
RESET statement_timeout;
SELECT md5(string_agg(t::text, ',' ORDER BY copy, filename)) = :'checksum_before' AS unchanged,
       (SELECT count(*) FROM pg_attribute WHERE attrelid = 'cx_big'::regclass AND attnum > 0 AND NOT attisdropped) AS columns
FROM cx_big t;

-- Recomputing an existing column (replace => true) and canceling keeps the old values.
SELECT convert('cx_model', 'cx_big', image_col => 'img_path');
SELECT md5(string_agg(t::text, ',' ORDER BY copy, filename)) AS checksum_before FROM cx_big t \gset
SET statement_timeout = '300ms';
SELECT convert('cx_model', 'cx_big', image_col => 'img_path', replace => true);
RESET statement_timeout;
SELECT md5(string_agg(t::text, ',' ORDER BY copy, filename)) = :'checksum_before' AS unchanged FROM cx_big t;
DROP TABLE cx_big;

--
-- An unreadable image at row 900 of 1,000: the rows before it were already embedded
-- (batches of 256), yet the table is exactly as before.
--
CREATE TABLE cx_bad AS
SELECT i AS id, CASE WHEN i = 900 THEN 'tutorial_data/mnist_data/no_such_image.jpg' ELSE img_path END AS img_path
FROM (SELECT row_number() OVER (ORDER BY img_path) AS i, img_path FROM cx_train) s;
SELECT md5(string_agg(t::text, ',' ORDER BY id)) AS checksum_before FROM cx_bad t \gset
DO $$
BEGIN
  PERFORM image_search.convert('cx_model', 'cx_bad', image_col => 'img_path');
EXCEPTION WHEN OTHERS THEN
  -- the message names the absolute path; keep the part that does not
  RAISE NOTICE 'convert failed: %', regexp_replace(SQLERRM, '"[^"]*"', '"..."');
END $$;
SELECT md5(string_agg(t::text, ',' ORDER BY id)) = :'checksum_before' AS unchanged,
       (SELECT count(*) FROM pg_attribute WHERE attrelid = 'cx_bad'::regclass AND attnum > 0 AND NOT attisdropped) AS columns
FROM cx_bad t;
-- The same row in a build's source query: no model.
DO $$
BEGIN
  PERFORM image_search.build_model('cx_bad_model', 'SELECT img_path FROM cx_bad ORDER BY id',
                                   image_col => 'img_path', max_epochs => 1);
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'build_model failed: %', regexp_replace(SQLERRM, '"[^"]*"', '"..."');
END $$;
SELECT count(*) AS cx_bad_models FROM models WHERE name = 'cx_bad_model';

-- The backend is still healthy after all of this.
SELECT vector_dims(embed_image('cx_model', 'tutorial_data/mnist_data/test/923.jpg')) AS dims;

DROP TABLE cx_bad, cx_train, cx_test;
SELECT drop_model('cx_model');
RESET search_path;
