-- SQL migrations: databases created with the first release (0.1.0) and with 0.2.0 are
-- brought to the current version with ALTER EXTENSION ... UPDATE, keep their models
-- and embeddings, and end up with exactly the objects of a fresh install.
SET client_min_messages = warning;
CREATE DATABASE image_search_upgrade_old;
CREATE DATABASE image_search_upgrade_020;
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

-- A fingerprint of every object of the extension, with function and view definitions.
CREATE FUNCTION pg_temp.extension_fingerprint() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(item, E'\n' ORDER BY item)) FROM (
    SELECT pg_describe_object(classid, objid, objsubid) AS item
      FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'image_search')
    UNION ALL
    SELECT pg_get_functiondef(p.oid) FROM pg_proc p
     WHERE p.pronamespace = 'image_search'::regnamespace AND p.prokind = 'f'
    UNION ALL
    SELECT c.relname || ': ' || pg_get_viewdef(c.oid) FROM pg_class c
     WHERE c.relnamespace = 'image_search'::regnamespace AND c.relkind = 'v'
    UNION ALL
    SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relnamespace = 'image_search'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  ) AS objects
$$;
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
CREATE FUNCTION pg_temp.extension_fingerprint() RETURNS text LANGUAGE sql AS $$

  SELECT md5(string_agg(item, E'\n' ORDER BY item)) FROM (
    SELECT pg_describe_object(classid, objid, objsubid) AS item
      FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'image_search')
    UNION ALL
    SELECT pg_get_functiondef(p.oid) FROM pg_proc p
     WHERE p.pronamespace = 'image_search'::regnamespace AND p.prokind = 'f'
    UNION ALL
    SELECT c.relname || ': ' || pg_get_viewdef(c.oid) FROM pg_class c
     WHERE c.relnamespace = 'image_search'::regnamespace AND c.relkind = 'v'
    UNION ALL
    SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relnamespace = 'image_search'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  ) AS objects
$$;
SELECT pg_temp.extension_fingerprint() AS upgraded_020 \gset

\c image_search_upgrade_new
SET client_min_messages = warning;
CREATE EXTENSION image_search;
CREATE FUNCTION pg_temp.extension_fingerprint() RETURNS text LANGUAGE sql AS $$
  SELECT md5(string_agg(item, E'\n' ORDER BY item)) FROM (
    SELECT pg_describe_object(classid, objid, objsubid) AS item
      FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'image_search')
    UNION ALL
    SELECT pg_get_functiondef(p.oid) FROM pg_proc p
     WHERE p.pronamespace = 'image_search'::regnamespace AND p.prokind = 'f'
    UNION ALL
    SELECT c.relname || ': ' || pg_get_viewdef(c.oid) FROM pg_class c
     WHERE c.relnamespace = 'image_search'::regnamespace AND c.relkind = 'v'
    UNION ALL
    SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relnamespace = 'image_search'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  ) AS objects
$$;
SELECT pg_temp.extension_fingerprint() = :'upgraded' AS upgrade_matches_fresh_install;
SELECT pg_temp.extension_fingerprint() = :'upgraded_020' AS upgrade_from_020_matches_fresh_install;

\c image_search_regress
SET client_min_messages = warning;
DROP DATABASE image_search_upgrade_old;
DROP DATABASE image_search_upgrade_020;
DROP DATABASE image_search_upgrade_new;
