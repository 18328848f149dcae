-- convert on every kind of table: each row must get the embedding of its own image.
-- A ctid is unique only inside one physical table, so partitioned tables and
-- inheritance trees (several tables behind one name) are where a wrong row identity
-- would write one row's embedding into another.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SELECT load_csv('ct_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
SELECT model_name, epochs FROM build_model('ct_model', 'SELECT * FROM ct_test', image_col => 'img_path',
                                           max_epochs => 1);
RESET client_min_messages;

-- The reference: the same model's convert on a plain table.
SELECT convert('ct_model', 'ct_test', image_col => 'img_path');

-- mismatches(table): rows whose embedding is not the reference embedding of their own image.
CREATE FUNCTION mismatches(tbl regclass) RETURNS TABLE (rows_embedded bigint, wrong bigint)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT count(t.ct_model_simclr), count(*) FILTER (WHERE t.ct_model_simclr IS DISTINCT FROM r.ct_model_simclr)
     FROM %s t JOIN ct_test r USING (filename)', tbl);
END $$;

--
-- A partitioned table, two levels deep (label 0-4 hash-partitioned again), no primary key.
--
CREATE TABLE ct_part (img_path text, filename text, label int) PARTITION BY LIST (label);
CREATE TABLE ct_part_low PARTITION OF ct_part FOR VALUES IN (0, 1, 2, 3, 4) PARTITION BY HASH (filename);
CREATE TABLE ct_part_low_0 PARTITION OF ct_part_low FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE ct_part_low_1 PARTITION OF ct_part_low FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE ct_part_high PARTITION OF ct_part FOR VALUES IN (5, 6, 7, 8, 9);
INSERT INTO ct_part SELECT img_path, filename, label FROM ct_test;
-- Every partition has rows at the same ctids, (0,1), (0,2), ...
SELECT tableoid::regclass AS partition, count(*), min(ctid) AS first_ctid
FROM ct_part GROUP BY 1 ORDER BY 1;
SELECT convert('ct_model', 'ct_part', image_col => 'img_path');
SELECT * FROM mismatches('ct_part');
-- Recomputing in place is just as exact.
UPDATE ct_part SET ct_model_simclr = NULL WHERE label = 8;
SELECT convert('ct_model', 'ct_part', image_col => 'img_path', replace => true);
SELECT * FROM mismatches('ct_part');
-- Searching the partitioned table finds what searching the plain table finds.
SELECT filename, label FROM ct_part
ORDER BY ct_model_simclr <=> embed_image('ct_model', 'tutorial_data/mnist_data/test/923.jpg'), filename LIMIT 4;
SELECT filename, label FROM ct_test
ORDER BY ct_model_simclr <=> embed_image('ct_model', 'tutorial_data/mnist_data/test/923.jpg'), filename LIMIT 4;

DROP TABLE ct_part;

-- A row that cannot be read is named by its ctid in the partition that holds it.
CREATE TABLE ct_bad (img_path text, filename text, label int) PARTITION BY LIST (label);
CREATE TABLE ct_bad_8 PARTITION OF ct_bad FOR VALUES IN (8);
CREATE TABLE ct_bad_9 PARTITION OF ct_bad FOR VALUES IN (9);
INSERT INTO ct_bad VALUES ('tutorial_data/mnist_data/test/923.jpg', '923.jpg', 8),
                          ('tutorial_data/mnist_data/test/685.jpg', '685.jpg', 8),
                          ('/nonexistent/bad.jpg', 'bad.jpg', 9);
SELECT convert('ct_model', 'ct_bad', image_col => 'img_path');
SELECT convert('ct_model', 'ct_bad', image_col => 'img_path', skip_bad_rows => true);
SELECT * FROM mismatches('ct_bad');
DROP TABLE ct_bad;

--
-- An inheritance tree: the column is added to the parent and its child, and the rows
-- of both are converted through the parent.
--
CREATE TABLE ct_parent (img_path text, filename text, label int);
CREATE TABLE ct_child (note text) INHERITS (ct_parent);
INSERT INTO ct_parent SELECT img_path, filename, label FROM ct_test WHERE label < 5;
INSERT INTO ct_child SELECT img_path, filename, label, 'child' FROM ct_test WHERE label >= 5;
SELECT convert('ct_model', 'ct_parent', image_col => 'img_path');
SELECT * FROM mismatches('ct_parent');
SELECT count(ct_model_simclr) AS child_rows_embedded FROM ct_child;
DROP TABLE ct_parent CASCADE;

--
-- Tables that have no row identity convert can trust are refused before anything changes.
--
CREATE VIEW ct_view AS SELECT * FROM ct_test;
SELECT convert('ct_model', 'ct_view', image_col => 'img_path');
CREATE MATERIALIZED VIEW ct_matview AS SELECT img_path, filename FROM ct_test;
SELECT convert('ct_model', 'ct_matview', image_col => 'img_path');
-- A partitioned table with a foreign partition.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS file_fdw;
RESET client_min_messages;
CREATE SERVER ct_files FOREIGN DATA WRAPPER file_fdw;
CREATE TABLE ct_mixed (img_path text, filename text, label int) PARTITION BY LIST (label);
CREATE TABLE ct_mixed_local PARTITION OF ct_mixed FOR VALUES IN (0, 1, 2, 3, 4, 5, 6, 7, 8);
CREATE FOREIGN TABLE ct_mixed_remote PARTITION OF ct_mixed FOR VALUES IN (9)
    SERVER ct_files OPTIONS (filename '/dev/null', format 'csv');
INSERT INTO ct_mixed SELECT img_path, filename, label FROM ct_test WHERE label < 9;
SELECT convert('ct_model', 'ct_mixed', image_col => 'img_path');
SELECT count(*) AS ct_model_simclr_columns FROM pg_attribute WHERE attname = 'ct_model_simclr' AND NOT attisdropped
  AND attrelid IN ('ct_mixed'::regclass, 'ct_mixed_local'::regclass);
DROP TABLE ct_mixed;
DROP SERVER ct_files;
DROP MATERIALIZED VIEW ct_matview;
DROP VIEW ct_view;
DROP FUNCTION mismatches(regclass);
DROP TABLE ct_test;
SELECT drop_model('ct_model');
