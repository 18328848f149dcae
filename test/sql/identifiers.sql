-- Odd identifiers and injection attempts. Model names become part of a column name
-- (<model>_simclr), table names are parsed like regclass input (quote them as in
-- SQL), column names are taken literally (never parsed). Every function either
-- works with the odd name or fails cleanly, and nothing else ever runs: the canary
-- table survives to the end.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
CREATE TABLE id_canary (x integer);
INSERT INTO id_canary VALUES (1);
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Odd ""Table""" ("Img ""Path""" text, "File Name" text, "Label" integer);
INSERT INTO "My Schema"."Odd ""Table""" VALUES
  ('tutorial_data/mnist_data/test/923.jpg', '923.jpg', 8),
  ('tutorial_data/mnist_data/test/685.jpg', '685.jpg', 8);

--
-- load_csv: the table name is a possibly qualified SQL name.
--
SELECT load_csv('"My Schema"."Train ""Set"""', 'tutorial_data/mnist_data/mnist_train.csv');
SELECT load_csv('id_x; DROP TABLE id_canary', 'tutorial_data/mnist_data/mnist_test.csv');
-- Quoted, the whole string is one (odd) table name.
SELECT load_csv('"id_x; DROP TABLE id_canary"', 'tutorial_data/mnist_data/mnist_test.csv');
SELECT relname FROM pg_class WHERE relname LIKE 'id\_x%' OR relname LIKE '%"%' ORDER BY relname;
DROP TABLE "id_x; DROP TABLE id_canary";

--
-- build_model: any model name of 1 to 43 bytes not starting with white space, so
-- that <model>_simclr_similarityN stays within Postgres' 63-byte identifiers.
--
SELECT model_name, epochs FROM build_model('My "Odd" Model', 'SELECT img_path AS "Img ""Path""" FROM "My Schema"."Train ""Set""" LIMIT 64',
                                           image_col => 'Img "Path"', max_epochs => 1);
SELECT model_name, epochs FROM build_model('x; DROP TABLE id_canary', 'SELECT img_path FROM "My Schema"."Train ""Set""" LIMIT 64',
                                           image_col => 'img_path', max_epochs => 1);
SELECT model_name, epochs FROM build_model(repeat('m', 43), 'SELECT img_path FROM "My Schema"."Train ""Set""" LIMIT 64',
                                           image_col => 'img_path', max_epochs => 1);
SELECT model_name FROM build_model(repeat('m', 44), 'SELECT 1', max_epochs => 1);
SELECT model_name FROM build_model(repeat('é', 22), 'SELECT 1', max_epochs => 1);  -- 44 bytes
SELECT model_name FROM build_model(' leading space', 'SELECT 1', max_epochs => 1);
SELECT model_name FROM build_model('', 'SELECT 1', max_epochs => 1);
-- The image column is a column name, not an expression.
SELECT model_name FROM build_model('id_bad', 'SELECT img_path FROM "My Schema"."Train ""Set"""',
                                   image_col => 'img_path FROM id_canary; DROP TABLE id_canary; --', max_epochs => 1);
-- The source query is one SELECT; a second statement is refused.
SELECT model_name FROM build_model('id_bad', 'SELECT img_path FROM "My Schema"."Train ""Set"""; DROP TABLE id_canary',
                                   image_col => 'img_path', max_epochs => 1);
RESET client_min_messages;
SELECT name FROM models ORDER BY name;

--
-- convert: the odd names work; injected ones are invalid names or missing columns.
--
SELECT convert('My "Odd" Model', '"My Schema"."Odd ""Table"""', image_col => 'Img "Path"');
SELECT convert('x; DROP TABLE id_canary', '"My Schema"."Odd ""Table"""', image_col => 'Img "Path"');
SELECT convert(repeat('m', 43), '"My Schema"."Odd ""Table"""', image_col => 'Img "Path"');
SELECT attname FROM pg_attribute WHERE attrelid = '"My Schema"."Odd ""Table"""'::regclass AND attnum > 0 ORDER BY attnum;
SELECT convert('My "Odd" Model', 'My Schema.Odd "Table"', image_col => 'Img "Path"');
SELECT convert('My "Odd" Model', 'id_canary; DROP TABLE id_canary', image_col => 'Img "Path"');
SELECT convert('My "Odd" Model', '"My Schema"."Odd ""Table"""; DROP TABLE id_canary', image_col => 'Img "Path"');
SELECT convert('My "Odd" Model', '"My Schema"."Odd ""Table"""', replace => true,
               image_col => 'Img "Path"" FROM id_canary; DROP TABLE id_canary; --');
SELECT convert('no; DROP TABLE id_canary', '"My Schema"."Odd ""Table"""', image_col => 'Img "Path"');

--
-- embed_image and searches.
--
SELECT "File Name" FROM "My Schema"."Odd ""Table"""
ORDER BY "My ""Odd"" Model_simclr" <=> embed_image('My "Odd" Model', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 1;
SELECT embed_image('x; DROP TABLE id_canary', 'tutorial_data/mnist_data/test/923.jpg')
     = embed_image('x; DROP TABLE id_canary', 'tutorial_data/mnist_data/test/923.jpg') AS deterministic;
SELECT r->>'File Name' AS file, (r->>'My "Odd" Model_simclr_similarity1')::numeric > 0.99 AS similar
FROM search_image('My "Odd" Model', 'SELECT * FROM "My Schema"."Odd ""Table"""',
                  ARRAY['tutorial_data/mnist_data/test/923.jpg'], 'LIMIT 1') r;
SELECT r->>'File Name' AS file
FROM search_image('x; DROP TABLE id_canary', 'SELECT * FROM "My Schema"."Odd ""Table"""',
                  ARRAY['tutorial_data/mnist_data/test/923.jpg']) r;
SELECT r->>'File Name' AS file, (r->>(repeat('m', 43) || '_simclr_similarity1'))::numeric > 0.99 AS similar
FROM search_image(repeat('m', 43), 'SELECT * FROM "My Schema"."Odd ""Table"""',
                  ARRAY['tutorial_data/mnist_data/test/923.jpg']) r LIMIT 1;

--
-- print_images: image and caption columns are column names too.
--
SELECT count(*) > 0 AS printed FROM print_images('SELECT * FROM "My Schema"."Odd ""Table"""',
                                           image_col => 'Img "Path"', caption_col => 'File Name', color => false);
SELECT * FROM print_images('SELECT * FROM "My Schema"."Odd ""Table"""', color => false,
                           image_col => 'x FROM id_canary; DROP TABLE id_canary; --');
SELECT * FROM print_images('SELECT * FROM "My Schema"."Odd ""Table"""', image_col => 'Img "Path"', color => false,
                           caption_col => '1) FROM id_canary; DROP TABLE id_canary; --');

--
-- run(): the tutorial dialect quotes identifiers like SQL ("" embeds a quote) and
-- passes everything on as bound parameters.
--
SELECT * FROM run($$COPY "My Schema"."CSV ""Copy""" FROM "tutorial_data/mnist_data/mnist_test.csv"$$);
SELECT * FROM run($$CONVERT USING "My ""Odd"" Model" OPTIONS (table_name='"My Schema"."Odd ""Table"""',
                                                              image_col='Img "Path"', replace=true) AS SELECT 1$$);
SELECT r::jsonb->>'File Name' AS file
FROM run($$SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING "My ""Odd"" Model"
           AS SELECT "File Name", "My ""Odd"" Model_simclr" FROM "My Schema"."Odd ""Table""" LIMIT 1$$) r;
SELECT * FROM run($$CONVERT USING "x; DROP TABLE id_canary"
                    OPTIONS (table_name='"My Schema"."Odd ""Table"""; DROP TABLE id_canary', image_col='Img "Path"') AS SELECT 1$$);
SELECT * FROM run($$BUILD MODEL x; DROP TABLE id_canary USING SimCLR AS SELECT 1$$);
SELECT * FROM run($$COPY id_x OPTIONS(overwrite=True) FROM "tutorial_data/mnist_data/mnist_test.csv"; DROP TABLE id_canary$$);
SELECT * FROM run($$SEARCH IMAGE images='x' USING m AS SELECT 1; DROP TABLE id_canary$$);

-- The canary survived every attempt.
SELECT count(*) AS canary_rows FROM id_canary;

DROP SCHEMA "My Schema" CASCADE;
DROP TABLE id_canary;
SELECT drop_model(name) FROM models WHERE name IN ('My "Odd" Model', 'x; DROP TABLE id_canary', repeat('m', 43));
RESET search_path;
