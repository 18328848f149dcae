-- Hostile, broken and unusual images: every one either embeds or fails with a
-- message naming the problem, never crashes the backend. The files come from
-- test/data/make_hostile.py (committed output); paths are relative to
-- image_search.image_root, which the test cluster sets to the repository root.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SELECT load_csv('hi_train', 'tutorial_data/mnist_data/mnist_train.csv', overwrite => true);
SELECT model_name, epochs FROM build_model('hi_model', 'SELECT * FROM hi_train LIMIT 64',
                                           image_col => 'img_path', max_epochs => 1);
RESET client_min_messages;

-- Error messages name the resolved absolute path; this helper runs a statement and
-- returns 'ok' or the error with image_search.image_root replaced by <root>, so the
-- expected output does not depend on where the repository is checked out.
CREATE FUNCTION hi_try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN replace(rtrim(SQLERRM, E'\n'), current_setting('image_search.image_root'), '<root>');
END $$;
CREATE FUNCTION hi_embed(path text) RETURNS text LANGUAGE sql
  RETURN hi_try(format('SELECT vector_dims(image_search.embed_image(%L, %L))', 'hi_model', path));

--
-- Server paths: what can and cannot be embedded.
--
SELECT file, hi_embed(file) AS result FROM (VALUES
  ('test/data/no_such_file.jpg'),   -- missing file
  ('test/data'),                    -- a directory
  ('test/data/empty.jpg'),          -- zero bytes
  ('test/data/truncated.jpg'),      -- the first 40% of a JPEG
  ('test/data/text.jpg'),           -- a text file named .jpg: the format comes from the bytes
  ('test/data/zero_width.png'),     -- PNG header says 0x28
  ('test/data/huge_header.png'),    -- PNG header says 20000x20000: refused before decoding
  ('/dev/zero'),                       -- devices and FIFOs are refused, they may never end
  ('test/data/alpha.png'),          -- RGBA: composited over white
  ('test/data/gray16.png'),         -- 16 bits per sample: reduced to 8
  ('test/data/cmyk.jpg'),           -- CMYK JPEG
  ('test/data/one_pixel.png'),      -- 1x1
  ('test/data/animated.gif')        -- animation: the first frame
) AS t(file);

-- An empty path is an error; NULL gives NULL (embed_image is STRICT).
SELECT embed_image('hi_model', '');
SELECT embed_image('hi_model', NULL::text) IS NULL AS null_path,
       embed_image('hi_model', NULL::bytea) IS NULL AS null_bytes,
       embed_image(NULL, 'test/data/one_pixel.png') IS NULL AS null_model;

-- What the decoder makes of the odd ones: a 16-bit PNG embeds exactly like the same
-- picture at 8 bits, and an animated GIF like its first frame as a PNG.
SELECT embed_image('hi_model', 'test/data/gray16.png')
     = embed_image('hi_model', 'test/data/gray8.png') AS sixteen_bit_equals_eight_bit,
       cosine_similarity(embed_image('hi_model', 'test/data/animated.gif'),
                         embed_image('hi_model', 'test/data/first_frame.png')) > 0.9999 AS gif_is_first_frame;

-- For a superuser, '..' is an ordinary path component: a path may leave
-- image_search.image_root (as any absolute path may). Roles without
-- pg_read_server_files are refused (see privileges.sql).
SELECT embed_image('hi_model', 'tutorial_data/../tutorial_data/mnist_data/test/923.jpg')
     = embed_image('hi_model', 'tutorial_data/mnist_data/test/923.jpg') AS dot_dot_inside_root;
SELECT embed_image('hi_model', '../../../../../../../../../../etc/passwd');
-- A symbolic link is followed (escape_link.jpg points at /etc/passwd).
SELECT embed_image('hi_model', 'test/data/escape_link.jpg');

--
-- bytea input: the same decoder, labelled <bytea> in messages.
--
-- one_pixel.png as bytes:
SELECT embed_image('hi_model', decode('89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55'
                                      '0000000a49444154789c6338010000ca00c999ca5d7e0000000049454e44ae426082', 'hex'))
     = embed_image('hi_model', 'test/data/one_pixel.png') AS bytes_equal_file;
-- huge_header.png as bytes: a 67-byte "20000x20000" PNG, refused from its header.
SELECT embed_image('hi_model', decode('89504e470d0a1a0a0000000d4948445200004e2000004e200800000000c61b19e5'
                                      '0000000a4944415478da6360000000020001e527defc0000000049454e44ae426082', 'hex'));
-- The same signature with a corrupt IHDR CRC, a lone signature, text, nothing.
SELECT embed_image('hi_model', decode('89504e470d0a1a0a0000000d4948445200004e2000004e200800000000deadbeef', 'hex'));
SELECT embed_image('hi_model', decode('89504e470d0a1a0a', 'hex'));
SELECT embed_image('hi_model', convert_to('hello', 'UTF8'));
SELECT embed_image('hi_model', ''::bytea);

-- image_search.max_image_pixels (superuser only) caps width x height; a 28x28 image
-- is 784 pixels.
SET image_search.max_image_pixels = 700;
SELECT embed_image('hi_model', pg_read_binary_file(current_setting('image_search.image_root') || '/test/data/gray8.png'));
RESET image_search.max_image_pixels;

--
-- convert over a table with bad rows: the first bad row fails the whole statement,
-- named by its ctid, and the table is left exactly as it was.
--
CREATE TABLE hi_mixed (id integer, img_path text);
INSERT INTO hi_mixed VALUES
  (1, 'tutorial_data/mnist_data/test/923.jpg'), (2, 'test/data/truncated.jpg'),
  (3, 'test/data/alpha.png'),                (4, 'test/data/text.jpg'),
  (5, NULL),                                    (6, 'test/data/huge_header.png'),
  (7, 'test/data/cmyk.jpg'),                 (8, 'test/data/animated.gif');
SELECT md5(string_agg(t::text, ',' ORDER BY id)) AS checksum_before FROM hi_mixed t \gset
SELECT hi_try($$SELECT image_search.convert('hi_model', 'hi_mixed', image_col => 'img_path')$$) AS convert;
SELECT md5(string_agg(t::text, ',' ORDER BY id)) = :'checksum_before' AS unchanged,
       (SELECT count(*) FROM pg_attribute WHERE attrelid = 'hi_mixed'::regclass AND attnum > 0) AS columns
FROM hi_mixed t;
-- skip_bad_rows => true: one WARNING per bad row (hidden here: they name absolute
-- paths; the bytea table below shows them), bad and NULL rows stay NULL, and the
-- count of good rows is returned.
SET client_min_messages = error;
SELECT convert('hi_model', 'hi_mixed', image_col => 'img_path', skip_bad_rows => true);
RESET client_min_messages;
SELECT id, hi_model_simclr IS NOT NULL AS embedded FROM hi_mixed ORDER BY id;

-- The same for a bytea column, with the warnings (row (0,n) holds id n).
CREATE TABLE hi_bytes (id integer, img bytea);
INSERT INTO hi_bytes
SELECT id, CASE WHEN img_path IS NOT NULL
                THEN pg_read_binary_file(current_setting('image_search.image_root') || '/' || img_path) END
FROM hi_mixed ORDER BY id;
INSERT INTO hi_bytes VALUES (9, ''::bytea);
SELECT md5(string_agg(t::text, ',' ORDER BY id)) AS checksum_before FROM hi_bytes t \gset
SELECT convert('hi_model', 'hi_bytes', image_col => 'img');
SELECT md5(string_agg(t::text, ',' ORDER BY id)) = :'checksum_before' AS unchanged FROM hi_bytes t;
SELECT convert('hi_model', 'hi_bytes', image_col => 'img', skip_bad_rows => true);
SELECT id, hi_model_simclr IS NOT NULL AS embedded FROM hi_bytes ORDER BY id;

-- Training refuses bad images too, naming the row of the source query.
SELECT hi_try($$SELECT * FROM image_search.build_model('hi_bad', 'SELECT img_path FROM hi_mixed ORDER BY id',
                                                       image_col => 'img_path', max_epochs => 1)$$) AS build;
SELECT count(*) AS hi_bad_models FROM models WHERE name = 'hi_bad';

DROP TABLE hi_train, hi_mixed, hi_bytes;
DROP FUNCTION hi_embed(text), hi_try(text);
SELECT drop_model('hi_model');
RESET search_path;
