-- The image_search tutorial: MNIST digits, from CSV to image search, in SQL.
-- scripts/demo.sh runs this file with psql on a throwaway cluster whose
-- image_search.image_root is the repository root, so the relative paths work.
\set ON_ERROR_STOP on
\timing on
CREATE EXTENSION IF NOT EXISTS image_search;
-- Operators such as <=> live in the extension's schema.
SET search_path = public, image_search;

-- 1. Load the CSVs into real tables (the tutorial's COPY ... OPTIONS(overwrite=True)).
SELECT image_search.load_csv('mnist_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
SELECT image_search.load_csv('mnist_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
SELECT label, count(*) FROM mnist_train GROUP BY label ORDER BY label;

-- 2. Build a SimCLR model from a SELECT (5 epochs, one NOTICE per epoch).
SELECT * FROM image_search.build_model('my_image_search_model', 'SELECT * FROM mnist_train',
                                       image_col => 'img_path', max_epochs => 5, overwrite => true);
SELECT name, epochs, final_loss, train_seconds, encoder_size FROM image_search.model_list;

-- 3. Convert: store each row's embedding in mnist_test.my_image_search_model_simclr.
SELECT image_search.convert('my_image_search_model', 'mnist_test', image_col => 'img_path', replace => true);

-- 4. Search by image: the four rows most similar to test/923.jpg (an 8).
SELECT filename, label,
       round(cosine_similarity(my_image_search_model_simclr,
             (SELECT embed_image('my_image_search_model', 'tutorial_data/mnist_data/test/923.jpg')))::numeric, 4)
         AS my_image_search_model_simclr_similarity1
FROM mnist_test
ORDER BY my_image_search_model_simclr_similarity1 DESC
LIMIT 4;

-- The same, pgvector style.
SELECT filename, label FROM mnist_test
ORDER BY my_image_search_model_simclr <=> embed_image('my_image_search_model', 'tutorial_data/mnist_data/test/923.jpg')
LIMIT 4;

-- 5. Look at them: the tutorial's own PRINT IMAGE statement, as written.
\pset format unaligned
\pset tuples_only on
SELECT * FROM image_search.run($$
  PRINT IMAGE AS (SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model
                  AS SELECT * FROM mnist_test ORDER BY my_image_search_model_simclr_similarity1 DESC LIMIT 4);
$$);
-- ...and as a PNG contact sheet, written by scripts/demo.sh to results/top4.png.
\o results/top4.png.b64
SELECT encode(contact_sheet($$SELECT img_path, filename || ' label=' || label AS caption FROM mnist_test
                              ORDER BY my_image_search_model_simclr <=> embed_image('my_image_search_model', 'tutorial_data/mnist_data/test/923.jpg')
                              LIMIT 4$$, image_col => 'img_path', caption_col => 'caption'), 'base64');
\o
