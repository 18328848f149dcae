-- combine_models stores a model (algorithm 'concat') whose embedding is other models'
-- embeddings side by side, each scaled to unit length and then by its weight: for
-- example a model trained here beside an encoder pretrained elsewhere and imported.
-- It stores no encoder of its own; convert, embed_image and search run its parts.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SELECT load_csv('combine_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);

-- Two parts: a small trained model (192 values: 128 learnt, 64 from the gradient
-- descriptor) and an imported encoder (16 values, 32x32 colour input).
SELECT model_name, epochs FROM build_model('cm_trained', 'SELECT img_path FROM combine_test',
       image_col => 'img_path', max_epochs => 1);
SELECT model_name, embedding_dim FROM import_model('cm_imported', 'test/data/onnx/conv_dynamic.onnx');

SELECT * FROM combine_models('cm_both', ARRAY['cm_trained', 'cm_imported']);
SELECT name, algorithm, architecture, channels, image_size, embedding_dim, epochs, encoder_size, embedding_column
FROM model_list WHERE name = 'cm_both';
SELECT jsonb_path_query_array(options, '$.parts[*].name') AS parts,
       jsonb_path_query_array(options, '$.parts[*].weight') AS weights
FROM models WHERE name = 'cm_both';

-- The embedding is unit(trained) || unit(imported): both halves have length 1, and they
-- are exactly the parts' own embeddings scaled.
CREATE TEMP TABLE one AS
SELECT embed_image('cm_both', 'tutorial_data/mnist_data/test/923.jpg')::real[] AS both_,
       embed_image('cm_trained', 'tutorial_data/mnist_data/test/923.jpg')::real[] AS trained,
       embed_image('cm_imported', 'tutorial_data/mnist_data/test/923.jpg')::real[] AS imported;
CREATE FUNCTION pg_temp.norm(v real[]) RETURNS double precision LANGUAGE sql
  AS $$ SELECT sqrt(sum(x * x)) FROM unnest(v) x $$;
SELECT cardinality(both_) AS dims,
       round(pg_temp.norm(both_[1:192])::numeric, 4) AS trained_half,
       round(pg_temp.norm(both_[193:208])::numeric, 4) AS imported_half,
       (SELECT max(abs(b - t / pg_temp.norm(trained)))
          FROM unnest(both_[1:192], trained) AS u(b, t)) < 1e-6 AS trained_part_matches,
       (SELECT max(abs(b - i / pg_temp.norm(imported)))
          FROM unnest(both_[193:208], imported) AS u(b, i)) < 1e-6 AS imported_part_matches
FROM one;

-- convert adds cm_both_concat; an image is its own best match, and the search
-- functions and the tutorial's statements work as for any model.
SELECT convert('cm_both', 'combine_test', image_col => 'img_path');
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'combine_test'::regclass AND attname = 'cm_both_concat';
SELECT filename FROM combine_test
ORDER BY cm_both_concat <=> embed_image('cm_both', 'tutorial_data/mnist_data/test/923.jpg'), filename LIMIT 1;
SELECT run('SEARCH IMAGE images=''tutorial_data/mnist_data/test/923.jpg'' USING cm_both AS SELECT filename, img_path, cm_both_concat FROM combine_test ORDER BY cm_both_concat_similarity1 DESC LIMIT 1')::jsonb ->> 'filename' AS tutorial_search;
-- Stored and query embeddings agree exactly.
SELECT cm_both_concat = embed_image('cm_both', img_path) AS same_as_query
FROM combine_test WHERE filename = '923.jpg';

-- keep_current embeds rows inserted later with the combined model too.
SELECT keep_current('cm_both', 'combine_test', image_col => 'img_path');
INSERT INTO combine_test (filename, img_path) VALUES ('again.jpg', 'tutorial_data/mnist_data/test/923.jpg');
SELECT cm_both_concat = embed_image('cm_both', 'tutorial_data/mnist_data/test/923.jpg') AS kept_current
FROM combine_test WHERE filename = 'again.jpg';
SELECT stop_keeping_current('cm_both', 'combine_test');

-- Weights scale each part: with weights 1 and 0.5 the second half has length 0.5.
SELECT embedding_dim FROM combine_models('cm_weighted', ARRAY['cm_trained', 'cm_imported'], weights => '{1, 0.5}');
SELECT round(pg_temp.norm((embed_image('cm_weighted', 'tutorial_data/mnist_data/test/923.jpg')::real[])[193:208])::numeric, 4)
       AS imported_half;

--
-- A part cannot be dropped while a combined model uses it; rebuilding or replacing a part
-- makes the combined model refuse to embed until it is combined again.
--
SELECT drop_model('cm_imported');
SELECT model_name FROM import_model('cm_imported', 'test/data/onnx/conv_dynamic.onnx', overwrite => true);
SELECT embed_image('cm_both', 'tutorial_data/mnist_data/test/923.jpg');
SELECT convert('cm_both', 'combine_test', image_col => 'img_path', replace => true);
SELECT embedding_dim FROM combine_models('cm_both', ARRAY['cm_trained', 'cm_imported'], overwrite => true);
SELECT convert('cm_both', 'combine_test', image_col => 'img_path', replace => true);
-- A combined model has no encoder to export.
SELECT length(export_model('cm_both'));

--
-- Bad input: a clear ERROR, nothing stored.
--
SELECT * FROM combine_models('cm_bad', ARRAY['cm_trained']);
SELECT * FROM combine_models('cm_bad', ARRAY['cm_trained', 'cm_missing']);
SELECT * FROM combine_models('cm_bad', ARRAY['cm_trained', 'cm_trained']);
SELECT * FROM combine_models('cm_bad', ARRAY['cm_trained', NULL]);
SELECT * FROM combine_models('cm_bad', ARRAY['cm_trained', 'cm_both']);
SELECT * FROM combine_models('cm_bad', ARRAY['cm_trained', 'cm_imported'], weights => '{1}');
SELECT * FROM combine_models('cm_bad', ARRAY['cm_trained', 'cm_imported'], weights => '{1, 0}');
SELECT * FROM combine_models('cm_bad', ARRAY['cm_trained', 'cm_imported'], weights => '{1, NaN}');
SELECT * FROM combine_models('cm_trained', ARRAY['cm_trained', 'cm_imported'], overwrite => true);
SELECT * FROM combine_models('cm_both', ARRAY['cm_trained', 'cm_imported']);
SELECT count(*) AS bad_models FROM models WHERE name = 'cm_bad';

-- Dropping the combined model frees its parts.
SELECT drop_model('cm_both'), drop_model('cm_weighted');
SELECT drop_model('cm_imported'), drop_model('cm_trained');
DROP TABLE combine_test;
