-- SQL migrations: databases created with the first release (0.1.0), 0.2.0, 0.3.0, 0.4.0, 0.5.0, 0.6.0, 0.7.0 and 0.8.0 are
-- brought to the current version with ALTER EXTENSION ... UPDATE, keep their models
-- and embeddings, and end up with exactly the objects of a fresh install.
-- The fingerprint function comes from sql/include/fingerprint.psql (pg_regress tells
-- psql its input directory in PG_ABS_SRCDIR).
\getenv abs_srcdir PG_ABS_SRCDIR
\set fingerprint :abs_srcdir '/sql/include/fingerprint.psql'
SET client_min_messages = warning;
CREATE DATABASE image_search_upgrade_old;
CREATE DATABASE image_search_upgrade_020;
CREATE DATABASE image_search_upgrade_030;
CREATE DATABASE image_search_upgrade_040;
CREATE DATABASE image_search_upgrade_050;
CREATE DATABASE image_search_upgrade_060;
CREATE DATABASE image_search_upgrade_070;
CREATE DATABASE image_search_upgrade_080;
CREATE DATABASE image_search_upgrade_090;
CREATE DATABASE image_search_upgrade_new;

\c image_search_upgrade_old
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.load_csv('up_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT model_name, epochs FROM image_search.build_model('up_model', 'SELECT img_path FROM up_test', image_col => 'img_path', max_epochs => 1);
SELECT image_search.convert('up_model', 'up_test', image_col => 'img_path');
CREATE TEMP TABLE before AS
  SELECT filename FROM up_test
  ORDER BY up_model_simclr OPERATOR(image_search.<=>) image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg'), filename
  LIMIT 10;

ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
-- The model and the embeddings made by 0.1.0 still search the same way.
SELECT count(*) AS same_top10 FROM before JOIN (
  SELECT filename FROM up_test
  ORDER BY up_model_simclr OPERATOR(image_search.<=>) image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg'), filename
  LIMIT 10) AS after USING (filename);
SELECT name, epochs, images_per_second > 0 AS has_throughput FROM image_search.model_list;

\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded \gset

\c image_search_upgrade_020
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.load_csv('up_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT model_name, epochs FROM image_search.build_model('up_model', 'SELECT img_path FROM up_test', image_col => 'img_path', max_epochs => 1);
SELECT image_search.convert('up_model', 'up_test', image_col => 'img_path');
CREATE TEMP TABLE before AS
  SELECT filename FROM up_test
  ORDER BY up_model_simclr OPERATOR(image_search.<=>) image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg'), filename
  LIMIT 10;
ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
-- The model and the embeddings made by 0.2.0 still search the same way, and the new
-- build_model options work.
SELECT count(*) AS same_top10 FROM before JOIN (
  SELECT filename FROM up_test
  ORDER BY up_model_simclr OPERATOR(image_search.<=>) image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg'), filename
  LIMIT 10) AS after USING (filename);
SELECT model_name, epochs FROM image_search.build_model('up_model_030', 'SELECT img_path FROM up_test', image_col => 'img_path',
    architecture => 'simclr_cnn', lr_schedule => 'cosine', warmup => 0.1, max_epochs => 1);
-- An ann index (0.7.0's access method) on the embeddings 0.2.0 made: an index scan with
-- every list probed finds the same top 10 as 0.2.0's exact scan (on 200 rows the planner
-- would rather scan them, so the index is asked for).
CREATE INDEX up_test_ann ON up_test USING ann (up_model_simclr image_search.embedding_cosine_ops) WITH (lists = 4);
SET image_search.ann_probes = 4;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT filename FROM up_test
  ORDER BY up_model_simclr OPERATOR(image_search.<=>) image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg')
  LIMIT 10;
SELECT count(*) AS same_top10_through_ann FROM before JOIN (
  SELECT filename FROM up_test
  ORDER BY up_model_simclr OPERATOR(image_search.<=>) image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg')
  LIMIT 10) AS after USING (filename);
RESET image_search.ann_probes;
RESET enable_seqscan;
DROP INDEX up_test_ann;
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded_020 \gset

\c image_search_upgrade_030
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.load_csv('up_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT model_name, epochs FROM image_search.build_model('up_model', 'SELECT img_path FROM up_test', image_col => 'img_path', max_epochs => 1);
SELECT image_search.convert('up_model', 'up_test', image_col => 'img_path');
-- A plain btree index on the embedding column (0.3.0's operator class) survives the update.
CREATE INDEX up_test_embedding_btree ON up_test (up_model_simclr);
CREATE TEMP TABLE before AS
  SELECT filename FROM up_test
  ORDER BY up_model_simclr <=> image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg'), filename
  LIMIT 10;
ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT count(*) AS same_top10 FROM before JOIN (
  SELECT filename FROM up_test
  ORDER BY up_model_simclr <=> image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg'), filename
  LIMIT 10) AS after USING (filename);
SET enable_seqscan = off;
SELECT count(*) AS rows_found_by_btree FROM up_test
 WHERE up_model_simclr = (SELECT up_model_simclr FROM up_test ORDER BY filename LIMIT 1);
RESET enable_seqscan;
-- 0.4.0's encoder_config describes the trained models of earlier versions; their column keeps its name.
SELECT name, embedding_column, m.encoder_config->>'input' AS input, m.encoder_config->>'layout' AS layout
FROM image_search.model_list JOIN image_search.models m USING (name);
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded_030 \gset

\c image_search_upgrade_040
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
-- 0.4.0's import_model (its C symbols stay in the library until the update) imports a
-- model; after the update the model embeds as before, and 0.5.0's options work.
SELECT * FROM image_search.import_model('up_conv', 'test/data/onnx/conv_dynamic.onnx');
SELECT image_search.embed_image('up_conv', 'tutorial_data/mnist_data/test/923.jpg')::text AS before_update \gset
ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.embed_image('up_conv', 'tutorial_data/mnist_data/test/923.jpg')::text = :'before_update'
       AS same_embedding;
SELECT model_name, image_size, image_width FROM image_search.import_model('up_crop', 'test/data/onnx/conv_dynamic.onnx',
       crop_fraction => 0.875);
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded_040 \gset

\c image_search_upgrade_050
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
-- 0.5.0's build_model (its C symbol stays in the library until the update) builds a model;
-- after the update it embeds as before, and 0.6.0's gradient_descriptor option works.
SELECT image_search.load_csv('up_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT model_name, epochs FROM image_search.build_model('up_model', 'SELECT img_path FROM up_test',
       image_col => 'img_path', max_epochs => 1);
SELECT image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg')::text AS before_update \gset
ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg')::text = :'before_update'
       AS same_embedding;
SELECT model_name FROM image_search.build_model('up_plain', 'SELECT img_path FROM up_test', image_col => 'img_path',
       max_epochs => 1, gradient_descriptor => false);
SELECT name, embedding_dim FROM image_search.model_list ORDER BY name;
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded_050 \gset

\c image_search_upgrade_060
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.6.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
-- A model built with 0.6.0 embeds as before after the update, and 0.7.0's combine_models
-- can combine it.
SELECT image_search.load_csv('up_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT model_name, epochs FROM image_search.build_model('up_model', 'SELECT img_path FROM up_test',
       image_col => 'img_path', max_epochs => 1);
SELECT image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg')::text AS before_update \gset
ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg')::text = :'before_update'
       AS same_embedding;
SELECT model_name FROM image_search.import_model('up_conv', 'test/data/onnx/conv_dynamic.onnx');
SELECT * FROM image_search.combine_models('up_both', ARRAY['up_model', 'up_conv']);
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded_060 \gset

\c image_search_upgrade_070
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.7.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
-- A model built with 0.7.0 embeds as before after the update, and 0.8.0's label_col works.
SELECT image_search.load_csv('up_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT model_name, epochs FROM image_search.build_model('up_model', 'SELECT img_path FROM up_test',
       image_col => 'img_path', max_epochs => 1);
SELECT image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg')::text AS before_update \gset
ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.embed_image('up_model', 'tutorial_data/mnist_data/test/923.jpg')::text = :'before_update'
       AS same_embedding;
SELECT model_name, rows_used FROM image_search.build_model('up_labelled', 'SELECT img_path, label FROM up_test',
       image_col => 'img_path', label_col => 'label', max_epochs => 1);
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded_070 \gset

\c image_search_upgrade_080
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.8.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
-- A labelled model built before the update embeds as before after it,
-- and 0.9.0's readout option works.
SELECT image_search.load_csv('up_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT model_name, epochs FROM image_search.build_model('up_labelled', 'SELECT img_path, label FROM up_test',
       image_col => 'img_path', label_col => 'label', max_epochs => 1);
SELECT image_search.embed_image('up_labelled', 'tutorial_data/mnist_data/test/923.jpg')::text AS before_update \gset
ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.embed_image('up_labelled', 'tutorial_data/mnist_data/test/923.jpg')::text = :'before_update'
       AS same_embedding;
SELECT model_name, rows_used FROM image_search.build_model('up_projection', 'SELECT img_path FROM up_test',
       image_col => 'img_path', readout => 'projection', max_epochs => 1);
SELECT embedding_dim FROM image_search.models WHERE name = 'up_projection';
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded_080 \gset

\c image_search_upgrade_090
SET client_min_messages = warning;
CREATE EXTENSION image_search VERSION '0.9.0';
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
-- A labelled model built through 0.9.0's signature (the library's defaults apply to the
-- options it lacks, so it has label votes: 128 + 10 values) embeds as before after the
-- update, and 0.10.0's label_votes option works. (One library serves both versions here, so
-- this checks the catalog row and its encoder_config through the update, not an older build.)
SELECT image_search.load_csv('up_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT model_name, epochs FROM image_search.build_model('up_labelled', 'SELECT img_path, label FROM up_test',
       image_col => 'img_path', label_col => 'label', max_epochs => 1);
SELECT embedding_dim FROM image_search.models WHERE name = 'up_labelled';
SELECT image_search.embed_image('up_labelled', 'tutorial_data/mnist_data/test/923.jpg')::text AS before_update \gset
ALTER EXTENSION image_search UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'image_search';
SELECT image_search.embed_image('up_labelled', 'tutorial_data/mnist_data/test/923.jpg')::text = :'before_update'
       AS same_embedding;
SELECT model_name, rows_used FROM image_search.build_model('up_votes', 'SELECT img_path, label FROM up_test',
       image_col => 'img_path', label_col => 'label', max_epochs => 1, label_votes => false);
SELECT embedding_dim, options -> 'label_votes' AS label_votes FROM image_search.models WHERE name = 'up_votes';
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() AS upgraded_090 \gset

\c image_search_upgrade_new
SET client_min_messages = warning;
CREATE EXTENSION image_search;
\set ECHO none
\i :fingerprint
\set ECHO all
SELECT pg_temp.extension_fingerprint() = :'upgraded' AS upgrade_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_020' AS upgrade_from_020_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_030' AS upgrade_from_030_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_040' AS upgrade_from_040_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_050' AS upgrade_from_050_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_060' AS upgrade_from_060_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_070' AS upgrade_from_070_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_080' AS upgrade_from_080_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_090' AS upgrade_from_090_matches_fresh_install;

\c image_search_regress
SET client_min_messages = warning;
DROP DATABASE image_search_upgrade_old;
DROP DATABASE image_search_upgrade_020;
DROP DATABASE image_search_upgrade_030;
DROP DATABASE image_search_upgrade_040;
DROP DATABASE image_search_upgrade_050;
DROP DATABASE image_search_upgrade_060;
DROP DATABASE image_search_upgrade_070;
DROP DATABASE image_search_upgrade_080;
DROP DATABASE image_search_upgrade_090;
DROP DATABASE image_search_upgrade_new;
