-- image_search.run(statement) runs the tutorial's own statements as written:
-- COPY ... OPTIONS, BUILD MODEL, CONVERT USING, SEARCH IMAGE and PRINT IMAGE.
-- Each is parsed and mapped onto the SQL API with bound parameters and quoted
-- identifiers, so nothing in a statement can run as extra SQL.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
SET search_path = public, image_search;

--
-- 1. COPY: load_csv under the tutorial's syntax.
--
SELECT * FROM run($$COPY mnist_train OPTIONS(overwrite=True) FROM "tutorial_data/mnist_data/mnist_train.csv"$$);
SELECT * FROM run($$COPY mnist_test OPTIONS(overwrite=True) FROM "tutorial_data/mnist_data/mnist_test.csv"$$);
SELECT * FROM run($$COPY mnist_test FROM "tutorial_data/mnist_data/mnist_test.csv"$$);
SELECT * FROM run($$COPY mnist_test OPTIONS(overwrite=True, header=True) FROM "tutorial_data/mnist_data/mnist_test.csv"$$);

--
-- 2. BUILD MODEL (one epoch here; the loss and timing are masked).
--
SET client_min_messages = warning;  -- hides the per-epoch NOTICEs (they show timings)
SELECT regexp_replace(line, 'final loss [0-9.]+, [0-9.]+ s', 'final loss <loss>, <seconds> s') AS line
FROM run($$BUILD MODEL my_image_search_model USING SimCLR OPTIONS (max_epochs=1, batch_size=32, image_col='img_path', overwrite=True) AS SELECT * FROM mnist_train$$) AS line;
RESET client_min_messages;
SELECT name, epochs, rows_used, final_loss < 4 AS loss_ok FROM model_list WHERE name = 'my_image_search_model';
-- Options are checked by name; algorithms by name too.
SELECT * FROM run($$BUILD MODEL m USING SimCLR OPTIONS (max_epochs=1, epochs=2) AS SELECT * FROM mnist_train$$);
SELECT * FROM run($$BUILD MODEL m USING ResNet AS SELECT * FROM mnist_train$$);
SELECT * FROM run($$BUILD MODEL m USING SimCLR OPTIONS (max_epochs=0, image_col='img_path') AS SELECT * FROM mnist_train$$);

--
-- 3. CONVERT USING: adds mnist_test.my_image_search_model_simclr.
--
SELECT * FROM run($$CONVERT USING my_image_search_model OPTIONS (table_name='mnist_test', image_col='img_path') AS SELECT * FROM mnist_test$$);
SELECT * FROM run($$CONVERT USING my_image_search_model OPTIONS (table_name='mnist_test', image_col='img_path') AS SELECT * FROM mnist_test$$);
SELECT * FROM run($$CONVERT USING my_image_search_model OPTIONS (table_name='mnist_test', image_col='img_path', replace=True) AS SELECT * FROM mnist_test$$);
SELECT * FROM run($$CONVERT USING my_image_search_model OPTIONS (image_col='img_path') AS SELECT * FROM mnist_test$$);
SELECT * FROM run($$CONVERT USING my_image_search_model OPTIONS (table_name='mnist_test', colour=1) AS SELECT * FROM mnist_test$$);

--
-- 4. SEARCH IMAGE: one JSON row per result, with my_image_search_model_simclr_similarity1.
--
SELECT n, r->>'filename' AS filename, round((r->>'my_image_search_model_simclr_similarity1')::numeric, 4) AS similarity1
FROM run($$SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model
           AS SELECT * FROM mnist_test ORDER BY my_image_search_model_simclr_similarity1 DESC LIMIT 4$$)
     WITH ORDINALITY AS t(line, n), LATERAL (SELECT line::jsonb AS r) AS j
WHERE n = 1;
SELECT count(*) AS rows
FROM run($$SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model
           AS SELECT * FROM mnist_test ORDER BY my_image_search_model_simclr_similarity1 DESC LIMIT 4$$);
-- Several query images give one similarity column each.
SELECT line::jsonb->>'filename' AS filename,
       round((line::jsonb->>'my_image_search_model_simclr_similarity2')::numeric, 4) AS similarity2
FROM run($$SEARCH IMAGE images=('tutorial_data/mnist_data/test/923.jpg', 'tutorial_data/mnist_data/test/685.jpg')
           USING my_image_search_model
           AS SELECT filename, my_image_search_model_simclr FROM mnist_test
           ORDER BY my_image_search_model_simclr_similarity2 DESC LIMIT 1$$) AS line;

--
-- 5. PRINT IMAGE: a colour grid for the terminal (not shown here: it is ANSI
-- escapes), 14 lines of half blocks and one line of captions, best match first.
--
SELECT count(*) AS lines,
       (array_agg(line ORDER BY n DESC))[1] LIKE '923.jpg label=8 sim1=1.000 %' AS captions_start_with_923
FROM run($$PRINT IMAGE AS (SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model AS SELECT * FROM mnist_test ORDER BY my_image_search_model_simclr_similarity1 DESC LIMIT 4)$$)
     WITH ORDINALITY AS t(line, n);
SELECT * FROM run($$PRINT IMAGE AS (SELECT * FROM mnist_test LIMIT 4)$$);

--
-- Syntax errors show where parsing stopped.
--
SELECT * FROM run($$BUILD MODLE m USING SimCLR AS SELECT 1$$);
SELECT * FROM run($$BUILD MODEL m USING SimCLR OPTIONS (max_epochs=1 AS SELECT * FROM mnist_train$$);
SELECT * FROM run($$SELECT * FROM mnist_test$$);
SELECT * FROM run('');

--
-- Injection attempts fail, and mnist_test is still there.
--
SELECT * FROM run($$BUILD MODEL x; DROP TABLE mnist_test USING SimCLR AS SELECT * FROM mnist_train$$);
SELECT * FROM run($$BUILD MODEL x USING SimCLR AS SELECT * FROM mnist_train; DROP TABLE mnist_test$$);
SELECT * FROM run($$SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model AS SELECT * FROM mnist_test; DROP TABLE mnist_test$$);
SELECT * FROM run($$SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model AS SELECT * FROM mnist_test LIMIT 1; DROP TABLE mnist_test$$);
SELECT * FROM run($$SEARCH IMAGE images='x.jpg'); DROP TABLE mnist_test; --' USING my_image_search_model AS SELECT * FROM mnist_test$$);
SELECT * FROM run($$COPY mnist_test OPTIONS(overwrite=True) FROM "x.csv"; DROP TABLE mnist_test$$);
SELECT * FROM run($$CONVERT USING my_image_search_model OPTIONS (table_name='mnist_test; DROP TABLE mnist_test') AS SELECT * FROM mnist_test$$);
SELECT count(*) AS mnist_test_rows FROM mnist_test;
-- A truncated statement says what was expected, also inside the SELECT after AS.
SELECT * FROM run($$SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING$$);
SELECT * FROM run($$BUILD MODEL x USING SimCLR OPTIONS (image_col='img_path') AS SELECT * FROM mnist_train WHERE$$);
SELECT * FROM run($$SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model AS SELECT * FROM mnist_test ORDER BY$$);
-- A quoted identifier is just a name, whatever it contains.
SET client_min_messages = warning;
SELECT regexp_replace(line, 'final loss [0-9.]+, [0-9.]+ s', 'final loss <loss>, <seconds> s') AS line
FROM run($$BUILD MODEL "x; DROP TABLE mnist_test; --" USING SimCLR OPTIONS (max_epochs=1, batch_size=8, image_col='img_path') AS SELECT * FROM mnist_train LIMIT 10$$) AS line;
RESET client_min_messages;
SELECT drop_model('x; DROP TABLE mnist_test; --');
SELECT count(*) AS mnist_test_rows FROM mnist_test;

SELECT drop_model('my_image_search_model');
DROP TABLE mnist_train, mnist_test;
RESET search_path;
