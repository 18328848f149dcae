-- ONNX Runtime is loaded on first use, not at CREATE EXTENSION, so a missing or
-- wrong library is a clear ERROR where a model is used, and the backend lives on.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
SELECT image_search.load_csv('ort_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);

-- The library path is a superuser setting; $libdir is expanded.
SHOW image_search.onnxruntime_library;

-- A path that does not exist.
SET image_search.onnxruntime_library = '/nonexistent/libonnxruntime.so.1.32.0';
SELECT * FROM image_search.build_model('ort_model', 'SELECT img_path FROM ort_train LIMIT 8', image_col => 'img_path', batch_size => 4);

-- A library that is not ONNX Runtime.
SET image_search.onnxruntime_library = '$libdir/image_search.so';
SELECT * FROM image_search.build_model('ort_model', 'SELECT img_path FROM ort_train LIMIT 8', image_col => 'img_path', batch_size => 4);

-- An ONNX Runtime older than 1.31 (the API this build uses), installed by scripts/setup.sh as a test fixture.
SET image_search.onnxruntime_library = '/opt/image_search/fixtures/libonnxruntime.so.1.22.1';
SELECT * FROM image_search.build_model('ort_model', 'SELECT img_path FROM ort_train LIMIT 8', image_col => 'img_path', batch_size => 4);

-- Nothing was written, and the same session still works once the setting is right.
SELECT count(*) FROM image_search.models WHERE name = 'ort_model';
RESET image_search.onnxruntime_library;
SET client_min_messages = warning;
SELECT model_name, epochs, rows_used FROM image_search.build_model('ort_model', 'SELECT img_path FROM ort_train LIMIT 8', batch_size => 4,
                                                                   image_col => 'img_path', max_epochs => 1);
RESET client_min_messages;

-- Unprivileged roles cannot point the server at another library.
CREATE ROLE ort_user;
SET ROLE ort_user;
SET image_search.onnxruntime_library = '/tmp/evil.so';
RESET ROLE;
DROP ROLE ort_user;

SELECT image_search.drop_model('ort_model');
DROP TABLE ort_train;
