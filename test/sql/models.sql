-- build_model trains a SimCLR encoder on the images of any SELECT; models are rows
-- of image_search.models (transactional), listed by image_search.model_list,
-- removed by drop_model and exported as ONNX by export_model.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SET client_min_messages = warning;  -- hides the per-epoch NOTICEs (they show timings)
SELECT load_csv('models_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);

--
-- Happy path: one result row; loss and timings vary, so only their shape is shown.
--
SELECT model_name, epochs, rows_used, final_loss > 0 AND final_loss < 5 AS loss_ok,
       seconds > 0 AS timed, images_per_second > 0 AS fast
FROM build_model('models_test', 'SELECT * FROM models_train LIMIT 200',
                 image_col => 'img_path', max_epochs => 2);

-- The catalog: MNIST is grayscale, so 1 channel at 28x28; one epoch_log entry per epoch.
SELECT name, algorithm, architecture, channels, image_size, embedding_dim, rows_used, epochs,
       final_loss < 5 AS loss_ok, created_by = current_user AS mine
FROM model_list WHERE name LIKE 'models\_%';
SELECT jsonb_array_length(epoch_log) AS epochs,
       (SELECT array_agg(e->>'epoch' ORDER BY e->>'epoch') FROM jsonb_array_elements(epoch_log) e) AS logged,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(epoch_log->0) k) AS fields
FROM models WHERE name = 'models_test';
-- The options are recorded: the source query, the image column and every training setting.
SELECT options->>'source_query' AS source_query, options->>'image_col' AS image_col,
       options->'training'->'max_epochs' AS max_epochs, options->'training'->'batch_size' AS batch_size,
       options->'training'->'augment'->'flip' AS flip,
       (options->'training'->'augment'->>'neighbour_positives')::real AS neighbour_positives
FROM models WHERE name = 'models_test';
-- With the gradient descriptor (a grayscale default), 9 training pairs in 10 are an
-- image and one of its 3 nearest images by descriptor; without them the same build
-- trains on other pairs and ends at another loss.
SELECT b.final_loss::real <> (m.epoch_log->-1->>'loss')::real AS other_pairs
FROM models m, build_model('models_self_pairs', 'SELECT * FROM models_train LIMIT 200', image_col => 'img_path',
                           max_epochs => 2, augment => '{"neighbour_positives": 0}') b
WHERE m.name = 'models_test';
SELECT (options->'training'->'augment'->>'neighbour_positives')::real AS neighbour_positives
FROM models WHERE name = 'models_self_pairs';
SELECT drop_model('models_self_pairs');

--
-- Labels: label_col names a column of the source query; each training pair is then an
-- image and another image with the same label (rows with a NULL label pair with
-- themselves), so the model learns the similarity the labels mean.
--
SELECT model_name, rows_used FROM build_model('models_labelled', 'SELECT img_path, label FROM models_train',
       image_col => 'img_path', label_col => 'label', max_epochs => 3, gradient_descriptor => false);
SELECT model_name FROM build_model('models_unlabelled', 'SELECT img_path, label FROM models_train',
       image_col => 'img_path', max_epochs => 3, gradient_descriptor => false);
-- A labelled model embeds with the projection head's output (64 values; the space where
-- the loss pulls a label together) followed by its label votes (one value per label, 10
-- here), an unlabelled one with the features before it (128).
SELECT name, options->>'label_col' AS label_col,
       (options->'training'->'augment'->>'neighbour_positives')::real AS pairs_by_label,
       options->'training'->>'readout' AS readout, embedding_dim
FROM models WHERE name IN ('models_labelled', 'models_unlabelled') ORDER BY name;
SELECT load_csv('models_heldout', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
SELECT convert('models_labelled', 'models_heldout', image_col => 'img_path'),
       convert('models_unlabelled', 'models_heldout', image_col => 'img_path');
-- Distances between held-out digits with the same label, relative to those between different
-- labels: the labelled build pulls each digit's images together far more (3 epochs, learnt
-- embedding alone; measured 0.35 against 0.48).
WITH ratios AS (
  SELECT avg(CASE WHEN a.label = b.label THEN a.models_labelled_simclr <=> b.models_labelled_simclr END)
       / avg(CASE WHEN a.label <> b.label THEN a.models_labelled_simclr <=> b.models_labelled_simclr END) AS labelled,
         avg(CASE WHEN a.label = b.label THEN a.models_unlabelled_simclr <=> b.models_unlabelled_simclr END)
       / avg(CASE WHEN a.label <> b.label THEN a.models_unlabelled_simclr <=> b.models_unlabelled_simclr END) AS unlabelled
  FROM models_heldout a, models_heldout b WHERE a.filename < b.filename)
SELECT labelled < 0.85 * unlabelled AS labels_pull_classes_together FROM ratios;
-- Label votes: the last values of a labelled embedding are the shares of each label among
-- the image's 20 most similar training images (scaled), in the order options->'label_votes'
-- lists the labels. For held-out digits the label with the most votes is the right one
-- far more often than chance (0.1).
SELECT options->'label_votes' AS label_votes FROM models WHERE name = 'models_labelled';
WITH votes AS (
  SELECT h.label, (SELECT i FROM unnest((h.models_labelled_simclr::real[])[65:74]) WITH ORDINALITY AS v(share, i)
                   ORDER BY share DESC, i LIMIT 1) AS top
  FROM models_heldout h)
SELECT avg((m.options->'label_votes'->'labels'->>(top::int - 1) = label::text)::int) > 0.7 AS top_vote_is_the_label
FROM votes, models m WHERE m.name = 'models_labelled';
-- label_votes => false leaves them out; asking for them without label_col is an ERROR.
SELECT model_name FROM build_model('models_labelled_novotes', 'SELECT img_path, label FROM models_train LIMIT 64',
       image_col => 'img_path', label_col => 'label', max_epochs => 1, label_votes => false);
SELECT embedding_dim, options->'label_votes' AS label_votes FROM models WHERE name = 'models_labelled_novotes';
SELECT drop_model('models_labelled_novotes');
SELECT * FROM build_model('bad', 'SELECT img_path FROM models_train LIMIT 64', image_col => 'img_path',
                          label_votes => true);
-- A single label gives every image the same votes, so they are left out (with a NOTICE).
SELECT model_name FROM build_model('models_one_label', 'SELECT img_path, 7 AS label FROM models_train LIMIT 64',
       image_col => 'img_path', label_col => 'label', max_epochs => 1);
SELECT embedding_dim, options->'label_votes' AS label_votes FROM models WHERE name = 'models_one_label';
SELECT drop_model('models_one_label');
-- Asked for by name, votes that cannot be made are an ERROR, before any training.
SELECT * FROM build_model('bad', 'SELECT img_path, 7 AS label FROM models_train LIMIT 64',
                          image_col => 'img_path', label_col => 'label', label_votes => true);
-- readout chooses the layer: 'features' keeps a labelled model at h; a bad name is an ERROR.
SELECT model_name FROM build_model('models_labelled_h', 'SELECT img_path, label FROM models_train LIMIT 64',
       image_col => 'img_path', label_col => 'label', max_epochs => 1, readout => 'features');
SELECT options->'training'->>'readout' AS readout, embedding_dim FROM models WHERE name = 'models_labelled_h';
SELECT drop_model('models_labelled_h');
SELECT * FROM build_model('bad', 'SELECT img_path FROM models_train LIMIT 64', image_col => 'img_path',
                          readout => 'head');
SELECT format_type(atttypid, atttypmod) AS labelled_column FROM pg_attribute
WHERE attrelid = 'models_heldout'::regclass AND attname = 'models_labelled_simclr';
-- A labelled model seeds a warm start like any other (its encoder; the head starts afresh).
SELECT model_name, rows_used FROM build_model('models_labelled_warm', 'SELECT img_path FROM models_train LIMIT 64',
       image_col => 'img_path', max_epochs => 1, gradient_descriptor => false, pretrained => 'models_labelled');
SELECT drop_model('models_labelled_warm');
-- Bad label columns: not a column of the source; NULL in every row; a value no two rows
-- share (nothing to pair).
SELECT * FROM build_model('bad', 'SELECT img_path, label FROM models_train LIMIT 50', image_col => 'img_path',
                          label_col => 'digit');
SELECT * FROM build_model('bad', 'SELECT img_path, NULL::int AS label FROM models_train LIMIT 50',
                          image_col => 'img_path', label_col => 'label');
SELECT * FROM build_model('bad', 'SELECT img_path, filename FROM models_train LIMIT 50', image_col => 'img_path',
                          label_col => 'filename');
SELECT drop_model('models_labelled'), drop_model('models_unlabelled');
DROP TABLE models_heldout;

-- Training is deterministic for a given seed: the same build gives the same loss.
CREATE TEMP TABLE first_build AS SELECT build_id, epoch_log->-1->'loss' AS loss FROM models WHERE name = 'models_test';

--
-- An existing name is refused unless overwrite => true.
--
SELECT * FROM build_model('models_test', 'SELECT * FROM models_train LIMIT 200', image_col => 'img_path', max_epochs => 2);
SELECT model_name, epochs FROM build_model('models_test', 'SELECT * FROM models_train LIMIT 200',
                                           image_col => 'img_path', max_epochs => 2, overwrite => true);
SELECT f.loss = m.epoch_log->-1->'loss' AS same_loss, m.build_id > f.build_id AS rebuilt
FROM models m, first_build f WHERE m.name = 'models_test';

--
-- Invalid options are refused before any image is read.
--
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', max_epochs => 0);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', batch_size => 0);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', batch_size => 1);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', learning_rate => -1);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', learning_rate => 'NaN');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', temperature => 0);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', weight_decay => -0.1);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', image_size => 0);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', image_size => 1000);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', channels => 2);
SELECT * FROM build_model('', 'SELECT * FROM models_train', image_col => 'img_path');
SELECT * FROM build_model(repeat('x', 56), 'SELECT * FROM models_train', image_col => 'img_path');
SELECT * FROM build_model(' leading space', 'SELECT * FROM models_train LIMIT 2', image_col => 'img_path', max_epochs => 1);
-- augment overrides single augmentation settings; an unknown key lists the valid ones.
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 2', image_col => 'img_path', augment => '{"bogus": 1}');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 2', image_col => 'img_path', augment => '[1]');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 2', image_col => 'img_path', augment => '{"flip": "yes"}');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 2', image_col => 'img_path', augment => '{"neighbour_positives": 1.5}');
-- architecture, lr_schedule, warmup and the time budget max_seconds.
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', architecture => 'resnet999');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', lr_schedule => 'linear');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', warmup => 1);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', max_seconds => 0);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', max_seconds => -5);
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'img_path', max_seconds => 'Infinity');

--
-- A time budget trains as many epochs as fit (at least one, at most max_epochs); the
-- learning rate can warm up and follow a cosine down to zero over those epochs.
--
SELECT model_name, epochs FROM build_model('models_budget', 'SELECT * FROM models_train LIMIT 100', image_col => 'img_path',
                                           max_epochs => 50, max_seconds => 0.001);
SELECT model_name, epochs FROM build_model('models_budget', 'SELECT * FROM models_train LIMIT 100', image_col => 'img_path',
                                           max_epochs => 3, max_seconds => 3600, overwrite => true);
SELECT model_name, epochs FROM build_model('models_budget', 'SELECT * FROM models_train LIMIT 100', image_col => 'img_path',
                                           max_epochs => 2, lr_schedule => 'cosine', warmup => 0.2, overwrite => true);
SELECT options->'training'->>'lr_schedule' AS lr_schedule, round((options->'training'->>'warmup_fraction')::numeric, 3) AS warmup,
       architecture FROM models WHERE name = 'models_budget';
SELECT drop_model('models_budget');

--
-- Warm starts: pretrained => a model trained by build_model seeds the encoder (the same
-- architecture and channels; its channels, image size and architecture are the defaults).
--
SELECT model_name FROM build_model('models_base', 'SELECT * FROM models_train ORDER BY filename LIMIT 300',
                                   image_col => 'img_path', max_epochs => 4);
SELECT model_name FROM build_model('models_cold', 'SELECT * FROM models_train ORDER BY filename DESC LIMIT 100',
                                   image_col => 'img_path', max_epochs => 1);
SELECT model_name FROM build_model('models_warm', 'SELECT * FROM models_train ORDER BY filename DESC LIMIT 100',
                                   image_col => 'img_path', max_epochs => 1, pretrained => 'models_base');
-- Starting from trained weights, the first epoch's loss is lower than from scratch.
SELECT (w.epoch_log->0->>'loss')::float < (c.epoch_log->0->>'loss')::float AS warm_start_helps,
       w.architecture, w.channels, w.image_size
FROM models w, models c WHERE w.name = 'models_warm' AND c.name = 'models_cold';
-- A model trained with flips stores the mirror-averaging encoder; it seeds warm starts too.
SELECT model_name FROM build_model('models_flipped', 'SELECT * FROM models_train ORDER BY filename LIMIT 100',
                                   image_col => 'img_path', max_epochs => 1, flip => true);
SELECT model_name FROM build_model('models_flipped_warm', 'SELECT * FROM models_train ORDER BY filename DESC LIMIT 100',
                                   image_col => 'img_path', max_epochs => 1, flip => true, pretrained => 'models_flipped');
SELECT drop_model('models_flipped'), drop_model('models_flipped_warm');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 100', image_col => 'img_path', pretrained => 'no_such_model');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 100', image_col => 'img_path', pretrained => 'models_base',
                          channels => 3);
SELECT drop_model('models_base'), drop_model('models_cold'), drop_model('models_warm');

--
-- A second architecture: simclr_cnn_ms embeds a multi-scale readout, 384 values per
-- image; convert's column takes the model's own dimension.
--
SELECT model_name, epochs FROM build_model('models_ms', 'SELECT * FROM models_train LIMIT 100', image_col => 'img_path',
                                           max_epochs => 1, architecture => 'simclr_cnn_ms');
SELECT architecture, embedding_dim, channels, image_size FROM model_list WHERE name = 'models_ms';
CREATE TABLE models_ms_rows AS SELECT img_path FROM models_train LIMIT 3;
SELECT convert('models_ms', 'models_ms_rows', image_col => 'img_path');
SELECT format_type(atttypid, atttypmod) AS column_type FROM pg_attribute
WHERE attrelid = 'models_ms_rows'::regclass AND attname = 'models_ms_simclr';
SELECT vector_dims(embed_image('models_ms', 'tutorial_data/mnist_data/test/923.jpg')) AS query_dims;
-- Its readout pools a map into 2x2 cells, so not every image size works.
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 100', image_col => 'img_path',
                          architecture => 'simclr_cnn_ms', image_size => 20);
-- A warm start from another architecture is refused.
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 100', image_col => 'img_path',
                          pretrained => 'models_ms', architecture => 'simclr_cnn');
DROP TABLE models_ms_rows;
SELECT drop_model('models_ms');

--
-- The source query and its image column.
--
-- The default image column is image_path; the tutorial's is img_path.
SELECT * FROM build_model('bad', 'SELECT * FROM models_train');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'no_such_column');
-- Images are text paths or bytea, nothing else.
SELECT * FROM build_model('bad', 'SELECT * FROM models_train', image_col => 'label');
SELECT * FROM build_model('bad', '  ', image_col => 'img_path');
SELECT * FROM build_model('bad', 'SELECT * FROM no_such_table', image_col => 'img_path');
-- Exactly one SELECT: a second statement is a syntax error, never executed.
SELECT * FROM build_model('bad', 'SELECT * FROM models_train; DROP TABLE models_train', image_col => 'img_path');
SELECT count(*) FROM models_train;
-- Contrastive training compares pairs: at least 2 images (NULL images do not count).
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 0', image_col => 'img_path');
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 1', image_col => 'img_path');
-- A batch cannot be larger than the data.
SELECT * FROM build_model('bad', 'SELECT * FROM models_train LIMIT 5', image_col => 'img_path', batch_size => 6);
SELECT * FROM build_model('bad', 'SELECT NULL::text AS img_path FROM generate_series(1, 5)', image_col => 'img_path');
-- A row whose image cannot be read fails the build and names the row (1-based).
SELECT * FROM build_model('bad', $$(SELECT img_path FROM models_train ORDER BY filename LIMIT 3)
                                  UNION ALL SELECT '/nonexistent/missing.jpg'$$, image_col => 'img_path');
SELECT * FROM build_model('bad', $$SELECT '\x00010203'::bytea AS img UNION ALL SELECT '\x0405'::bytea$$, image_col => 'img');

-- Failed builds leave no model behind, and a failed overwrite keeps the old model.
SELECT * FROM build_model('models_test', $$SELECT '/nonexistent/missing.jpg' AS img_path$$,
                          image_col => 'img_path', overwrite => true);
SELECT name, epochs, rows_used FROM model_list WHERE name IN ('bad', 'models_test');

--
-- Models are rows: a rolled-back build or drop leaves the catalog as it was.
--
BEGIN;
SELECT model_name FROM build_model('models_tmp', 'SELECT * FROM models_train LIMIT 10', image_col => 'img_path', max_epochs => 1, batch_size => 8);
SELECT name FROM model_list WHERE name LIKE 'models\_%';
ROLLBACK;
BEGIN;
SELECT drop_model('models_test');
SELECT count(*) FROM models WHERE name LIKE 'models\_%';
ROLLBACK;
SELECT name FROM model_list WHERE name LIKE 'models\_%';

--
-- The same rows and seed give the same model whatever order the source query returns
-- them in (a parallel or distributed scan can change it): the training set is put in
-- an order of its own before it is shuffled with the seed.
--
SELECT model_name FROM build_model('models_asc', 'SELECT * FROM models_train ORDER BY filename LIMIT 100',
                                   image_col => 'img_path', max_epochs => 1, batch_size => 8);
SELECT model_name FROM build_model('models_desc', 'SELECT * FROM (SELECT * FROM models_train ORDER BY filename LIMIT 100) s ORDER BY filename DESC',
                                   image_col => 'img_path', max_epochs => 1, batch_size => 8);
SELECT export_model('models_asc') = export_model('models_desc') AS same_model;
SELECT drop_model('models_asc'), drop_model('models_desc');

--
-- export_model: the trained encoder as a standalone ONNX file. An ONNX file is a
-- protobuf ModelProto; its first field is ir_version (tag 0x08, here version 8).
--
SELECT substr(export_model('models_test'), 1, 2) AS header, length(export_model('models_test')) > 100000 AS big;
SELECT export_model('models_test') = encoder_onnx AS same FROM models WHERE name = 'models_test';
SELECT export_model('no_such_model');

--
-- drop_model
--
SELECT drop_model('no_such_model');
SELECT drop_model('no_such_model', if_exists => true);
SELECT drop_model('models_test');
SELECT count(*) FROM models WHERE name LIKE 'models\_%';

DROP TABLE models_train, first_build;
RESET client_min_messages;
RESET search_path;
