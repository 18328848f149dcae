-- convert stores every row's embedding in a new column <model>_simclr; embed_image
-- embeds one query image; a search is an ORDER BY on cosine distance.
-- search_image, print_images and contact_sheet are the tutorial's conveniences.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SET client_min_messages = warning;  -- hides the per-epoch NOTICEs (they show timings)
SELECT load_csv('cs_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
SELECT load_csv('cs_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
SELECT model_name, epochs FROM build_model('cs_model', 'SELECT * FROM cs_train LIMIT 200',
                                           image_col => 'img_path', max_epochs => 1);
RESET client_min_messages;

--
-- convert: adds cs_model_simclr embedding(128) and returns the rows embedded.
--
SELECT convert('cs_model', 'cs_test', image_col => 'img_path');
SELECT column_name, format_type(atttypid, atttypmod) AS type
FROM information_schema.columns JOIN pg_attribute ON attrelid = 'cs_test'::regclass AND attname = column_name
WHERE table_name = 'cs_test' ORDER BY ordinal_position;
SELECT count(cs_model_simclr) AS embedded, min(vector_dims(cs_model_simclr)) AS dims FROM cs_test;

-- Converting again needs replace => true, which recomputes the column.
SELECT convert('cs_model', 'cs_test', image_col => 'img_path');
SELECT convert('cs_model', 'cs_test', image_col => 'img_path', replace => true);
SELECT count(cs_model_simclr) AS embedded FROM cs_test;

-- Unknown model, table or column.
SELECT convert('no_such_model', 'cs_test', image_col => 'img_path');
SELECT convert('cs_model', 'no_such_table', image_col => 'img_path');
SELECT convert('cs_model', 'cs_test', image_col => 'no_such_column', replace => true);
-- Images are text paths or bytea; any other column type is refused (and the existing
-- embeddings are kept).
CREATE TABLE cs_typed AS SELECT img_path, label FROM cs_test WHERE filename IN ('923.jpg', '685.jpg');
SELECT convert('cs_model', 'cs_typed', image_col => 'img_path');
SELECT convert('cs_model', 'cs_typed', image_col => 'label', replace => true);
SELECT count(cs_model_simclr) AS embedded FROM cs_typed;
DROP TABLE cs_typed;

--
-- NULL images give NULL embeddings; they are not counted.
--
CREATE TABLE cs_small AS
SELECT img_path, filename FROM cs_test WHERE filename IN ('923.jpg', '685.jpg')
UNION ALL SELECT NULL, 'no image';
SELECT convert('cs_model', 'cs_small', image_col => 'img_path');
SELECT filename, vector_dims(cs_model_simclr) AS dims FROM cs_small ORDER BY filename;
DROP TABLE cs_small;

--
-- A row whose image cannot be read fails the whole convert, naming the row by its
-- ctid; the table is left unchanged (no column added).
--
CREATE TABLE cs_bad (img_path text, filename text);
INSERT INTO cs_bad SELECT img_path, filename FROM cs_test WHERE filename IN ('923.jpg', '685.jpg');
INSERT INTO cs_bad VALUES ('/nonexistent/bad.jpg', 'bad.jpg'), ('', 'empty path');
SELECT convert('cs_model', 'cs_bad', image_col => 'img_path');
SELECT column_name FROM information_schema.columns WHERE table_name = 'cs_bad' ORDER BY ordinal_position;
-- skip_bad_rows => true warns once per bad row, leaves it NULL and converts the rest.
SELECT convert('cs_model', 'cs_bad', image_col => 'img_path', skip_bad_rows => true);
SELECT filename, cs_model_simclr IS NOT NULL AS embedded FROM cs_bad ORDER BY filename;
DROP TABLE cs_bad;

--
-- bytea images: a bytea column converts like a path column, and embed_image takes
-- bytes too. Both give the same embedding as the file path.
--
SELECT current_setting('image_search.image_root') || '/tutorial_data/mnist_data/test/923.jpg' AS path_923 \gset
CREATE TABLE cs_bytes (id integer, img bytea);
INSERT INTO cs_bytes VALUES (1, pg_read_binary_file(:'path_923')), (2, '\x0001020304'), (3, NULL);
SELECT convert('cs_model', 'cs_bytes', image_col => 'img', skip_bad_rows => true);
SELECT id, round(cosine_similarity(b.cs_model_simclr, t.cs_model_simclr)::numeric, 4) AS similarity_to_923
FROM cs_bytes b, cs_test t WHERE t.filename = '923.jpg' ORDER BY id;
SELECT embed_image('cs_model', pg_read_binary_file(:'path_923'))
     = embed_image('cs_model', 'tutorial_data/mnist_data/test/923.jpg') AS bytes_equal_path,
       cosine_similarity(embed_image('cs_model', 'tutorial_data/mnist_data/test/923.jpg'),
                         (SELECT cs_model_simclr FROM cs_test WHERE filename = '923.jpg')) > 0.9999 AS matches_stored;
DROP TABLE cs_bytes;

-- embed_image errors: unreadable images, unknown models; NULL in gives NULL out.
SELECT embed_image('cs_model', '\x00'::bytea);
SELECT embed_image('cs_model', '/nonexistent/query.jpg');
SELECT embed_image('no_such_model', 'tutorial_data/mnist_data/test/923.jpg');
SELECT embed_image('cs_model', NULL::text) IS NULL AS is_null;

--
-- Search, pgvector style: 923.jpg is its own best match.
--
SELECT (array_agg(filename))[1] AS best, count(*) AS rows
FROM (SELECT filename FROM cs_test
      ORDER BY cs_model_simclr <=> embed_image('cs_model', 'tutorial_data/mnist_data/test/923.jpg')
      LIMIT 4) AS top4;

-- The tutorial's form: a similarity column from a scalar subquery.
SELECT filename, label,
       round(cosine_similarity(cs_model_simclr,
             (SELECT embed_image('cs_model', 'tutorial_data/mnist_data/test/923.jpg')))::numeric, 4)
         AS cs_model_simclr_similarity1
FROM cs_test
ORDER BY cs_model_simclr_similarity1 DESC
LIMIT 1;

-- The query image is embedded once per statement, not once per row: the scalar
-- subquery is an InitPlan, and embed_image remembers its result for the statement.
EXPLAIN (COSTS OFF)
SELECT filename, cosine_similarity(cs_model_simclr,
         (SELECT embed_image('cs_model', 'tutorial_data/mnist_data/test/923.jpg'))) AS cs_model_simclr_similarity1
FROM cs_test ORDER BY cs_model_simclr_similarity1 DESC LIMIT 4;
SELECT encoder_runs() AS runs_before \gset
SELECT count(*) FROM (SELECT filename FROM cs_test
      ORDER BY cs_model_simclr <=> embed_image('cs_model', 'tutorial_data/mnist_data/test/685.jpg') LIMIT 4) s;
SELECT encoder_runs() - :runs_before AS encoder_runs_for_200_rows;
SELECT encoder_runs() AS runs_before \gset
SELECT count(sim) FROM (SELECT cosine_similarity(cs_model_simclr,
         (SELECT embed_image('cs_model', 'tutorial_data/mnist_data/test/1394.jpg'))) AS sim FROM cs_test) s;
SELECT encoder_runs() - :runs_before AS encoder_runs_for_200_rows;

--
-- search_image: rows of any SELECT as JSON, with one similarity per query image;
-- by default ORDER BY <model>_simclr_similarity1 DESC LIMIT 4.
--
SELECT r->>'filename' AS filename, round((r->>'cs_model_simclr_similarity1')::numeric, 4) AS similarity1,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(r) k) AS keys
FROM search_image('cs_model', 'SELECT filename, label, cs_model_simclr FROM cs_test',
                  ARRAY['tutorial_data/mnist_data/test/923.jpg', 'tutorial_data/mnist_data/test/685.jpg']) r
LIMIT 1;
SELECT count(*) FROM search_image('cs_model', 'SELECT filename, cs_model_simclr FROM cs_test',
                                  ARRAY['tutorial_data/mnist_data/test/923.jpg']);
-- order_limit is any ORDER BY / LIMIT over the result columns.
SELECT r->>'filename' AS filename, round((r->>'cs_model_simclr_similarity2')::numeric, 4) AS similarity2
FROM search_image('cs_model', 'SELECT filename, cs_model_simclr FROM cs_test',
                  ARRAY['tutorial_data/mnist_data/test/923.jpg', 'tutorial_data/mnist_data/test/685.jpg'],
                  'ORDER BY cs_model_simclr_similarity2 DESC LIMIT 1') r;
SELECT * FROM search_image('cs_model', 'SELECT * FROM cs_test', ARRAY[]::text[]);
SELECT * FROM search_image('cs_model', '', ARRAY['tutorial_data/mnist_data/test/923.jpg']);
-- The source query must be one SELECT; a second statement is never executed.
SELECT * FROM search_image('cs_model', 'SELECT * FROM cs_test; DROP TABLE cs_test',
                           ARRAY['tutorial_data/mnist_data/test/923.jpg']);
SELECT * FROM search_image('cs_model', 'SELECT * FROM cs_test',
                           ARRAY['tutorial_data/mnist_data/test/923.jpg'], 'LIMIT 1; DROP TABLE cs_test');
SELECT count(*) FROM cs_test;

--
-- print_images: the images of a query as a text grid (Unicode half blocks), one
-- caption line per row of tiles; color => false gives plain, deterministic characters.
--
\pset format unaligned
\pset tuples_only on
SELECT * FROM print_images($$SELECT img_path, filename AS caption FROM cs_test
                             WHERE filename IN ('923.jpg', '685.jpg') ORDER BY filename$$,
                           image_col => 'img_path', caption_col => 'caption', color => false);
\pset format aligned
\pset tuples_only off
SELECT * FROM print_images('SELECT img_path FROM cs_test', image_col => 'img_path', color => false);
SELECT * FROM print_images('SELECT img_path FROM cs_test LIMIT 1', image_col => 'img_path', columns => 0);

-- contact_sheet: the same as a PNG (the 8-byte PNG signature first).
SELECT substr(contact_sheet($$SELECT img_path, filename AS caption FROM cs_test ORDER BY filename LIMIT 4$$,
                            image_col => 'img_path', caption_col => 'caption'), 1, 8) AS png_signature;

DROP TABLE cs_train, cs_test;
SELECT drop_model('cs_model');
RESET search_path;
