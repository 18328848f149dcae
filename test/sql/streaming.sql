-- When the decoded training images would not fit in image_search.train_cache_mb,
-- build_model reads them from the source query again in every epoch and trains on
-- shuffled windows of 16 batches, so its memory is bounded by the batch size, not the table.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
SELECT image_search.load_csv('st_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
SELECT image_search.load_csv('st_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);

SET image_search.train_cache_mb = 0;   -- nothing fits: stream (1,000 images = 2 windows of 512)
SELECT model_name, epochs, rows_used FROM image_search.build_model('st_model',
    'SELECT img_path FROM st_train ORDER BY filename', image_col => 'img_path', max_epochs => 2);
SELECT jsonb_array_length(epoch_log) AS epochs_logged,
       (epoch_log -> 1 ->> 'loss')::float < (epoch_log -> 0 ->> 'loss')::float AS loss_fell
FROM image_search.models WHERE name = 'st_model';
-- Pairs of neighbours need every image in memory: a streamed build (it says so in a
-- NOTICE) pairs each image with itself, and its options record that.
SELECT options->'training'->'gradient_descriptor' AS gradient_descriptor,
       (options->'training'->'augment'->>'neighbour_positives')::real AS neighbour_positives
FROM image_search.models WHERE name = 'st_model';

-- Same data in the same order and the same seed: the same model.
SELECT model_name FROM image_search.build_model('st_model_again',
    'SELECT img_path FROM st_train ORDER BY filename', image_col => 'img_path', max_epochs => 2);
SELECT a.encoder_onnx = b.encoder_onnx AS same_model
FROM image_search.models a, image_search.models b WHERE a.name = 'st_model' AND b.name = 'st_model_again';
-- Labels pair images across the whole set, so a build with label_col needs them all in
-- memory and says how to get there.
SELECT * FROM image_search.build_model('st_labelled', 'SELECT img_path, label FROM st_train',
    image_col => 'img_path', label_col => 'label', max_epochs => 1);
RESET image_search.train_cache_mb;

-- The streamed model searches like any other: 923.jpg is its own best match.
SELECT image_search.convert('st_model', 'st_test', image_col => 'img_path');
SELECT filename FROM st_test
ORDER BY st_model_simclr OPERATOR(image_search.<=>) image_search.embed_image('st_model', 'tutorial_data/mnist_data/test/923.jpg')
LIMIT 1;

SELECT image_search.drop_model('st_model'), image_search.drop_model('st_model_again');
DROP TABLE st_train, st_test;
