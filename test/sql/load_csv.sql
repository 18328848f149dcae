-- load_csv(table, path, overwrite => false): the tutorial's
-- `COPY <table> OPTIONS(overwrite=True) FROM "<file>"`. It creates a table whose
-- columns are named by the CSV header and typed from the values, then loads it.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
SET search_path = public, image_search;

--
-- The tutorial's CSVs; relative paths resolve against image_search.image_root
-- (the repository root on the test cluster).
--
SELECT load_csv('mnist_train', 'tutorial_data/mnist_data/mnist_train.csv');
SELECT load_csv('mnist_test', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT count(*), count(DISTINCT label) AS labels FROM mnist_train;

-- Columns keep the header's order and names; label is all integers, the rest text.
SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema = 'public' AND table_name IN ('mnist_train', 'mnist_test')
ORDER BY table_name, ordinal_position;

SELECT * FROM mnist_test WHERE filename = '923.jpg';

--
-- An existing table is never replaced unless asked.
--
SELECT load_csv('mnist_test', 'tutorial_data/mnist_data/mnist_test.csv');
INSERT INTO mnist_test VALUES ('extra.jpg', 'extra.jpg', 0);
SELECT load_csv('mnist_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
-- The extra row is gone: the table was recreated.
SELECT count(*) FROM mnist_test;

-- overwrite is transactional like any DDL: a rollback brings the old table back.
BEGIN;
SELECT load_csv('mnist_test', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
ROLLBACK;
SELECT count(*) FROM mnist_test;

-- Schema-qualified and quoted names work as in SQL.
CREATE SCHEMA load_csv_test;
SELECT load_csv('load_csv_test."Test Images"', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT count(*) FROM load_csv_test."Test Images";
DROP SCHEMA load_csv_test CASCADE;

--
-- Plain COPY into a table you created works too (server-side COPY needs an
-- absolute path, built here from image_search.image_root).
--
SELECT current_setting('image_search.image_root') || '/tutorial_data/mnist_data/mnist_test.csv' AS test_csv \gset
CREATE TABLE mnist_copy (img_path text, filename text, label integer);
COPY mnist_copy FROM :'test_csv' WITH (FORMAT csv, HEADER);
SELECT count(*) FROM mnist_copy;
SELECT count(*) AS same_rows FROM mnist_copy NATURAL JOIN mnist_test;
DROP TABLE mnist_copy;

--
-- Type inference: the narrowest of integer, bigint, double precision and text that
-- holds every value; empty fields are NULL. Quoted fields may hold commas and quotes.
--
COPY (VALUES ('id,big,score,name,empty'),
             ('1,9999999999,0.5,"a, ""quoted"" name",'),
             ('2,3,,plain,'),
             ('-3,,1e3,42,')) TO '/tmp/image_search_regress_types.csv';
SELECT load_csv('csv_types', '/tmp/image_search_regress_types.csv');
SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'csv_types' ORDER BY ordinal_position;
SELECT * FROM csv_types ORDER BY id;
DROP TABLE csv_types;

-- A row with the wrong number of fields is reported with its line number.
COPY (VALUES ('a,b'), ('1,2'), ('3')) TO '/tmp/image_search_regress_ragged.csv';
SELECT load_csv('csv_ragged', '/tmp/image_search_regress_ragged.csv');
SELECT to_regclass('csv_ragged') IS NULL AS no_table_left;
COPY (SELECT WHERE false) TO PROGRAM 'rm -f /tmp/image_search_regress_types.csv /tmp/image_search_regress_ragged.csv';

--
-- Missing files and directories.
--
SELECT load_csv('missing', '/nonexistent/mnist.csv');
SELECT load_csv('missing', 'tutorial_data/mnist_data');
-- A relative path names the file it resolved to (shown relative to image_root here).
DO $$
BEGIN
  PERFORM image_search.load_csv('missing', 'tutorial_data/no_such.csv');
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE '%', replace(SQLERRM, current_setting('image_search.image_root'), '<image_root>');
END $$;

DROP TABLE mnist_train, mnist_test;
RESET search_path;
