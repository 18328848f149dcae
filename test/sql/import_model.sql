-- import_model stores any ONNX image encoder as a model (algorithm 'onnx'): from its
-- bytes, or from a server file (relative paths resolve against image_search.image_root;
-- other paths need superuser or pg_read_server_files, as for image files). convert,
-- embed_image, search_image, export_model, drop_model and model_list then work as for
-- trained models. The encoders here come from test/data/onnx/make_fixtures.py.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SELECT load_csv('import_test', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);

--
-- A small convolutional encoder with a dynamic batch: input pixels [batch, 3, 32, 32],
-- output features [batch, 16]. The size and channels come from the model; the
-- preprocessing defaults are the ImageNet convention (shorter side scaled, centre crop,
-- RGB, values 0..1 normalised by ImageNet's mean and std, NCHW). batch_size NULL: any.
--
SELECT * FROM import_model('conv', 'test/data/onnx/conv_dynamic.onnx');
SELECT name, algorithm, architecture, channels, image_size, embedding_dim, rows_used, epochs,
       final_loss, embedding_column
FROM model_list WHERE name = 'conv';
SELECT encoder_config FROM models WHERE name = 'conv';

-- convert adds <model>_onnx with the model's own dimension; search works the same way.
SELECT convert('conv', 'import_test', image_col => 'img_path');
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'import_test'::regclass AND attname = 'conv_onnx';
SELECT count(*) FILTER (WHERE conv_onnx IS NOT NULL) AS embedded FROM import_test;
-- An image is its own best match.
SELECT filename FROM import_test
ORDER BY conv_onnx <=> embed_image('conv', 'tutorial_data/mnist_data/test/923.jpg'), filename LIMIT 1;
SELECT j->>'filename' AS filename, round((j->>'conv_onnx_similarity1')::numeric, 3) AS similarity
FROM search_image('conv', 'SELECT filename, img_path, conv_onnx FROM import_test',
                  ARRAY['tutorial_data/mnist_data/test/923.jpg'],
                  'ORDER BY conv_onnx_similarity1 DESC, filename LIMIT 1') AS j;
-- The tutorial statements too.
SELECT run('SEARCH IMAGE images=''tutorial_data/mnist_data/test/923.jpg'' USING conv AS SELECT filename, img_path, conv_onnx FROM import_test ORDER BY conv_onnx_similarity1 DESC LIMIT 1')::jsonb ->> 'filename' AS tutorial_search;
SELECT line FROM run('PRINT IMAGE AS (SEARCH IMAGE images=''tutorial_data/mnist_data/test/923.jpg'' USING conv AS SELECT filename, img_path, conv_onnx FROM import_test ORDER BY conv_onnx_similarity1 DESC, filename LIMIT 1)') AS line WHERE line LIKE '%jpg%';
-- The same file as bytea gives the same embeddings.
SELECT model_name FROM import_model('conv_bytes', export_model('conv'));
SELECT embed_image('conv', 'tutorial_data/mnist_data/test/923.jpg')
     = embed_image('conv_bytes', 'tutorial_data/mnist_data/test/923.jpg') AS same;
-- export_model returns the file as it was imported.
SELECT md5(export_model('conv')) = md5(export_model('conv_bytes')) AS same_file,
       length(export_model('conv')) AS bytes;

--
-- A model that takes one image at a time (input [1, 3, 32, 32]): convert runs it image
-- by image, and gets the same embeddings as the dynamic-batch model of the same weights.
--
SELECT * FROM import_model('conv_one', 'test/data/onnx/conv_batch1.onnx');
SELECT encoder_runs() AS runs_before \gset
SELECT convert('conv_one', 'import_test', image_col => 'img_path');
SELECT encoder_runs() - :runs_before AS runs, count(*) AS images FROM import_test;
SELECT max(conv_one_onnx <-> conv_onnx) < 1e-4 AS same_as_dynamic FROM import_test;

--
-- NHWC input ([batch, 32, 32, 3]) and a 4-D feature-map output ([batch, 8, 16, 16],
-- average-pooled to 8 values per image).
--
SELECT * FROM import_model('conv_nhwc', 'test/data/onnx/conv_nhwc.onnx');
SELECT * FROM import_model('conv_nhwc', 'test/data/onnx/conv_nhwc.onnx', layout => 'NHWC');
SELECT embed_image('conv_nhwc', 'tutorial_data/mnist_data/test/923.jpg')
   <-> embed_image('conv', 'tutorial_data/mnist_data/test/923.jpg') < 1e-4 AS nhwc_same_as_nchw;
SELECT * FROM import_model('fmap', 'test/data/onnx/feature_map.onnx');
SELECT * FROM import_model('fmap_max', 'test/data/onnx/feature_map.onnx', pooling => 'max');
SELECT vector_dims(embed_image('fmap', 'tutorial_data/mnist_data/test/923.jpg')) AS dims,
       embed_image('fmap', 'tutorial_data/mnist_data/test/923.jpg')
     <> embed_image('fmap_max', 'tutorial_data/mnist_data/test/923.jpg') AS pooling_differs;

--
-- Several outputs: name the one to use.
--
SELECT * FROM import_model('two', 'test/data/onnx/two_outputs.onnx');
SELECT * FROM import_model('two', 'test/data/onnx/two_outputs.onnx', output_name => 'nope');
SELECT * FROM import_model('two', 'test/data/onnx/two_outputs.onnx', output_name => 'logits');
SELECT * FROM import_model('two', 'test/data/onnx/two_outputs.onnx', output_name => 'features', overwrite => true);

--
-- Preprocessing options for a model of any input size: grayscale, 0..255 values,
-- stretch instead of crop, explicit mean and std (one value applies to every channel).
--
SELECT * FROM import_model('gray', 'test/data/onnx/gray_any_size.onnx', image_size => 28,
                           value_range => '0..255', resize => 'stretch', mean => '{127.5}', std => '{64}');
SELECT encoder_config->'mean' AS mean, encoder_config->'std' AS std, encoder_config->>'resize' AS resize
FROM models WHERE name = 'gray';
SELECT vector_dims(embed_image('gray', 'tutorial_data/mnist_data/test/923.jpg')) AS dims;
SELECT * FROM import_model('bad', 'test/data/onnx/gray_any_size.onnx', resize => 'squash');
SELECT * FROM import_model('bad', 'test/data/onnx/gray_any_size.onnx', value_range => '0..100');
SELECT * FROM import_model('bad', 'test/data/onnx/gray_any_size.onnx', channel_order => 'GBR');
SELECT * FROM import_model('bad', 'test/data/onnx/gray_any_size.onnx', mean => '{0.5, 0.5}');
SELECT * FROM import_model('bad', 'test/data/onnx/gray_any_size.onnx', std => '{0}');
SELECT * FROM import_model('bad', 'test/data/onnx/gray_any_size.onnx', mean => '{NULL}');
SELECT * FROM import_model('bad', 'test/data/onnx/gray_any_size.onnx', image_size => 4);
SELECT * FROM import_model('bad', 'test/data/onnx/conv_dynamic.onnx', image_size => 64);
SELECT * FROM import_model('bad', 'test/data/onnx/conv_dynamic.onnx', channels => 1);

--
-- Non-square inputs and crop_fraction, shown with models whose output is their input
-- flattened (gray_pixels: [batch, 1, height, width] -> [batch, height * width]), fed
-- raw 0..255 values, on test/data/framed_gradient.png: 40x40, a black frame 4 pixels
-- wide around a left-to-right gradient from 100 to 250.
-- An input fixed at 8 high and 12 wide is fed 8x12: image_size is the height,
-- image_width the width. A centre crop of the input's aspect ratio (3:2) keeps the
-- picture's full width and the middle 27 of its 40 rows.
--
SELECT * FROM import_model('px_8x12', 'test/data/onnx/gray_pixels_8x12.onnx',
                           value_range => '0..255', mean => '{0}', std => '{1}');
SELECT encoder_config->'image_width' AS image_width, encoder_config->'crop_fraction' AS crop_fraction
FROM models WHERE name = 'px_8x12';
CREATE TEMP TABLE px AS
  SELECT embed_image('px_8x12', 'test/data/framed_gradient.png')::real[] AS v;
-- Row by row (12 values each): the gradient rising left to right, blended with the
-- frame at both ends of the row; every row alike (the crop cut the frame's top and
-- bottom away).
SELECT array_length(v, 1) AS values, (SELECT array_agg(round(x)) FROM unnest(v[1:12]) x) AS first_row,
       (SELECT bool_and(abs(v[r * 12 + c] - v[c]) < 0.01) FROM generate_series(1, 7) r, generate_series(1, 12) c)
         AS rows_alike
FROM px;
-- A model with free sides takes both from the options, and gives the same values.
SELECT * FROM import_model('px_any', 'test/data/onnx/gray_pixels.onnx', image_size => 8, image_width => 12,
                           value_range => '0..255', mean => '{0}', std => '{1}');
SELECT embed_image('px_any', 'test/data/framed_gradient.png') = embed_image('px_8x12', 'test/data/framed_gradient.png')
       AS same;
-- crop_fraction => 0.75 keeps the centre 75 % of each side of that region: the frame is
-- cut away, only the gradient is left (ImageNet's resize 256, crop 224 is 0.875).
SELECT model_name, image_size, image_width FROM import_model('px_crop', 'test/data/onnx/gray_pixels_8x12.onnx',
       value_range => '0..255', mean => '{0}', std => '{1}', crop_fraction => 0.75);
SELECT encoder_config->'crop_fraction' AS crop_fraction FROM models WHERE name = 'px_crop';
SELECT round(min(x)) AS min_with_frame FROM unnest(embed_image('px_8x12', 'test/data/framed_gradient.png')::real[]) x;
SELECT round(min(x)) AS min_cropped, round(max(x)) AS max_cropped
FROM unnest(embed_image('px_crop', 'test/data/framed_gradient.png')::real[]) x;
-- convert feeds the same tensors as embed_image.
CREATE TABLE px_images AS SELECT 'test/data/framed_gradient.png' AS img_path;
SELECT convert('px_crop', 'px_images', image_col => 'img_path');
SELECT px_crop_onnx = embed_image('px_crop', img_path) AS same FROM px_images;
DROP TABLE px_images;
-- Bad values.
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels_8x12.onnx', image_size => 12);
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels_8x12.onnx', image_width => 8);
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels.onnx', image_width => 4);
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels.onnx', image_width => 2000);
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels.onnx', crop_fraction => 0);
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels.onnx', crop_fraction => -0.5);
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels.onnx', crop_fraction => 1.5);
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels.onnx', crop_fraction => 'NaN');
SELECT * FROM import_model('bad', 'test/data/onnx/gray_pixels.onnx', crop_fraction => NULL);
SELECT drop_model(name) FROM models WHERE name IN ('px_8x12', 'px_any', 'px_crop');

--
-- Bad models: each is refused at import with what is wrong and what fixes it.
--
SELECT * FROM import_model('bad', 'this is not an ONNX model'::bytea);
SELECT * FROM import_model('bad', 'test/data/cmyk.jpg');
SELECT * FROM import_model('bad', substr(export_model('conv'), 1, 1000));
SELECT * FROM import_model('bad', 'test/data/onnx/two_inputs.onnx');
SELECT * FROM import_model('bad', 'test/data/onnx/text_input.onnx');
SELECT * FROM import_model('bad', 'test/data/onnx/flat_input.onnx');
SELECT * FROM import_model('bad', 'test/data/onnx/batch4.onnx');
SELECT * FROM import_model('bad', 'test/data/onnx/per_batch.onnx');
SELECT * FROM import_model('bad', 'test/data/onnx/nan_output.onnx');
SELECT * FROM import_model('bad', 'test/data/onnx/external_data.onnx');
SELECT * FROM import_model('bad', 'test/data/onnx/external_in_subgraph.onnx');
SELECT * FROM import_model('bad', 'test/data/onnx/custom_domain.onnx');
-- (The message names the file under image_root, which differs between machines.)
DO $$ BEGIN PERFORM import_model('bad', 'test/data/onnx/missing.onnx');
EXCEPTION WHEN undefined_file THEN RAISE WARNING '%', regexp_replace(SQLERRM, '"/.*/test/', '"<image_root>/test/');
END $$;
-- A role without superuser or pg_read_server_files may import only files under
-- image_search.image_root (and needs INSERT on image_search.models to store a model).
CREATE ROLE import_user;
GRANT USAGE ON SCHEMA image_search TO import_user;
SET ROLE import_user;
SELECT * FROM import_model('bad', '/etc/passwd');
SELECT * FROM import_model('bad', '../../etc/passwd');
SELECT * FROM import_model('bad', 'test/data/onnx/conv_dynamic.onnx');
RESET ROLE;
-- The accepted size is a superuser setting.
SET image_search.max_import_bytes = '1kB';
SELECT * FROM import_model('bad', 'test/data/onnx/conv_dynamic.onnx');
SELECT * FROM import_model('bad', export_model('conv'));
RESET image_search.max_import_bytes;
SET ROLE import_user;
SET image_search.max_import_bytes = '1GB';
RESET ROLE;
REVOKE USAGE ON SCHEMA image_search FROM import_user;
DROP ROLE import_user;
-- Names follow build_model's rule, and an existing name needs overwrite.
SELECT * FROM import_model('', 'test/data/onnx/conv_dynamic.onnx');
SELECT * FROM import_model('conv', 'test/data/onnx/conv_dynamic.onnx');
SELECT count(*) AS bad_models FROM models WHERE name = 'bad';

--
-- A model trained by build_model, exported and imported again, gives identical
-- embeddings: its preprocessing is size 28 (MNIST), 1 channel, values 0..1 and no
-- normalisation (mean 0, std 1); its graph takes any size, so image_size is needed.
--
SELECT model_name FROM build_model('import_trained', 'SELECT * FROM import_test LIMIT 64',
                                   image_col => 'img_path', max_epochs => 1, batch_size => 32);
SELECT model_name, embedding_dim, image_size, channels, embedding_column
FROM import_model('reimported', export_model('import_trained'), image_size => 28, mean => '{0}', std => '{1}');
SELECT embed_image('import_trained', 'tutorial_data/mnist_data/test/923.jpg')
     = embed_image('reimported', 'tutorial_data/mnist_data/test/923.jpg') AS identical;
SELECT convert('import_trained', 'import_test', image_col => 'img_path');
SELECT convert('reimported', 'import_test', image_col => 'img_path');
SELECT count(*) FILTER (WHERE import_trained_simclr = reimported_onnx) AS identical_rows, count(*) AS rows
FROM import_test;

--
-- drop_model, and the catalog at the end.
--
SELECT drop_model('conv_bytes');
SELECT name, algorithm, architecture, channels, image_size, embedding_dim, embedding_column
FROM model_list WHERE algorithm = 'onnx' OR name = 'import_trained' ORDER BY name;
SELECT drop_model(name) FROM models WHERE name IN ('conv', 'conv_one', 'conv_nhwc', 'fmap', 'fmap_max', 'two',
                                                   'gray', 'import_trained', 'reimported');
DROP TABLE import_test;
