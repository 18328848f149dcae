-- Privileges: image_search functions run with the caller's rights (no SECURITY
-- DEFINER). A role without pg_read_server_files may read server files only under
-- image_search.image_root (the repository root in the test cluster); bytea input is
-- open to everyone; table privileges apply to convert and searches; models are rows
-- of image_search.models and obey its GRANTs.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
SET search_path = public, image_search;
SELECT load_csv('pv_images', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
SELECT model_name, epochs FROM build_model('pv_model', 'SELECT * FROM pv_images LIMIT 64',
                                           image_col => 'img_path', max_epochs => 1);
SELECT convert('pv_model', 'pv_images', image_col => 'img_path');
RESET client_min_messages;

-- An ordinary role (LOGIN is not needed: SET ROLE). Roles are cluster-wide, hence the
-- unusual name. It gets its own schema to create tables in (PG15: not public).
CREATE ROLE image_search_pv_role NOLOGIN;
CREATE SCHEMA pv_own AUTHORIZATION image_search_pv_role;

--
-- EXECUTE on the functions is PUBLIC's by default, but the role needs USAGE on the
-- extension schema to reach them.
--
SET ROLE image_search_pv_role;
SELECT image_search.embed_image('pv_model', 'tutorial_data/mnist_data/test/923.jpg') IS NOT NULL AS embedded;
RESET ROLE;
GRANT USAGE ON SCHEMA image_search TO image_search_pv_role;

--
-- Server files.
--
SET ROLE image_search_pv_role;
-- Under image_search.image_root: relative paths, and absolute ones that resolve there.
SELECT embed_image('pv_model', 'tutorial_data/mnist_data/test/923.jpg') IS NOT NULL AS relative,
       embed_image('pv_model', current_setting('image_search.image_root') || '/tutorial_data/mnist_data/test/923.jpg')
         = embed_image('pv_model', 'tutorial_data/mnist_data/test/923.jpg') AS absolute_inside_root,
       embed_image('pv_model', 'tutorial_data/../tutorial_data/mnist_data/test/923.jpg') IS NOT NULL AS dot_dot_inside_root;
-- Outside it: an absolute path, a '..' escape, a symbolic link out of the root
-- (test/data/escape_link.jpg -> /etc/passwd). The message echoes the path as given.
SELECT embed_image('pv_model', '/etc/passwd');
SELECT embed_image('pv_model', '../../../../../../../../../../etc/passwd');
SELECT embed_image('pv_model', 'tutorial_data/../../../../../../../../../../etc/passwd');
SELECT embed_image('pv_model', 'test/data/escape_link.jpg');
-- Outside the root the answer is the same whether or not the file exists, so an
-- unprivileged role cannot probe the server's files.
SELECT embed_image('pv_model', '/etc/no_such_file.jpg');
SELECT load_csv('pv_own.probe', '/root/no_such_file.csv');
-- bytea is open to everyone (here a 1x1 PNG).
SELECT vector_dims(embed_image('pv_model', decode('89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55'
                                                  '0000000a49444154789c6338010000ca00c999ca5d7e0000000049454e44ae426082', 'hex'))) AS dims;
-- The settings that decide what is read are superuser-only.
SET image_search.image_root = '/';
SET image_search.max_image_pixels = 1000000000;

-- Every function that reads files applies the same rule.
CREATE TABLE pv_own.outside (id integer, img_path text);
INSERT INTO pv_own.outside VALUES (1, 'tutorial_data/mnist_data/test/923.jpg'), (2, '/etc/passwd');
SELECT convert('pv_model', 'pv_own.outside', image_col => 'img_path');
SELECT convert('pv_model', 'pv_own.outside', image_col => 'img_path', skip_bad_rows => true);
SELECT id, pv_model_simclr IS NOT NULL AS embedded FROM pv_own.outside ORDER BY id;
SELECT * FROM build_model('pv_role_model', 'SELECT * FROM pv_own.outside', image_col => 'img_path', max_epochs => 1);
SELECT * FROM print_images('SELECT img_path FROM pv_own.outside ORDER BY id', image_col => 'img_path');
SELECT * FROM search_image('pv_model', 'SELECT * FROM pv_own.outside', ARRAY['/etc/passwd']);
SELECT load_csv('pv_own.csv', '/etc/passwd');
SELECT load_csv('pv_own.csv', '../../../../../../../../../../etc/passwd');
SELECT * FROM run($$COPY pv_own.csv FROM "/etc/passwd"$$);
SELECT * FROM run($$SEARCH IMAGE images='/etc/passwd' USING pv_model AS SELECT * FROM pv_own.outside$$);
-- load_csv under the root works (into a schema the role may create in).
SELECT load_csv('pv_own.csv', 'tutorial_data/mnist_data/mnist_test.csv');
RESET ROLE;

--
-- Tables: convert and searches need the caller's privileges on the table.
--
SET ROLE image_search_pv_role;
SELECT convert('pv_model', 'public.pv_images', image_col => 'img_path', replace => true);
SELECT count(*) FROM search_image('pv_model', 'SELECT * FROM public.pv_images',
                                  ARRAY['tutorial_data/mnist_data/test/923.jpg']);
SELECT filename FROM public.pv_images
ORDER BY pv_model_simclr <=> embed_image('pv_model', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 1;
RESET ROLE;
GRANT SELECT ON pv_images TO image_search_pv_role;
SET ROLE image_search_pv_role;
-- SELECT is enough to search ...
SELECT count(*) FROM search_image('pv_model', 'SELECT * FROM public.pv_images',
                                  ARRAY['tutorial_data/mnist_data/test/923.jpg']);
SELECT filename FROM public.pv_images
ORDER BY pv_model_simclr <=> embed_image('pv_model', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 1;
-- ... but not to convert, which writes the embedding column.
SELECT convert('pv_model', 'public.pv_images', image_col => 'img_path', replace => true);
RESET ROLE;
-- UPDATE is enough to recompute an existing column (replace => true); adding the
-- column in the first place is an ALTER TABLE and needs ownership of the table.
GRANT UPDATE ON pv_images TO image_search_pv_role;
SET ROLE image_search_pv_role;
SELECT convert('pv_model', 'public.pv_images', image_col => 'img_path', replace => true);
RESET ROLE;

--
-- pg_read_server_files: like a superuser, the role may read any server path.
--
GRANT pg_read_server_files TO image_search_pv_role;
SET ROLE image_search_pv_role;
SELECT embed_image('pv_model', '/etc/passwd');
SELECT embed_image('pv_model', '../../../../../../../../../../etc/passwd');
SELECT convert('pv_model', 'pv_own.outside', image_col => 'img_path', replace => true);
RESET ROLE;
REVOKE pg_read_server_files FROM image_search_pv_role;

--
-- Models. Building one INSERTs into image_search.models, which PUBLIC may only
-- read: the build trains, then fails at the INSERT. With INSERT and DELETE on
-- models and USAGE on its sequence the role can build.
--
SET ROLE image_search_pv_role;
SET client_min_messages = warning;  -- per-epoch NOTICEs
SELECT * FROM build_model('pv_role_model', 'SELECT * FROM pv_own.csv LIMIT 64', image_col => 'img_path', max_epochs => 1);
SELECT drop_model('pv_model');
RESET client_min_messages;
RESET ROLE;
GRANT INSERT, DELETE ON image_search.models TO image_search_pv_role;
GRANT USAGE ON SEQUENCE image_search.models_build_id_seq TO image_search_pv_role;
SET ROLE image_search_pv_role;
SET client_min_messages = warning;
SELECT model_name, epochs FROM build_model('pv_role_model', 'SELECT * FROM pv_own.csv LIMIT 64',
                                           image_col => 'img_path', max_epochs => 1);
RESET client_min_messages;
SELECT name, created_by FROM image_search.models ORDER BY name;
SELECT drop_model('pv_role_model');
RESET ROLE;
REVOKE INSERT, DELETE ON image_search.models FROM image_search_pv_role;
REVOKE USAGE ON SEQUENCE image_search.models_build_id_seq FROM image_search_pv_role;

-- Revoking SELECT on image_search.models from PUBLIC makes models unusable to
-- roles that are not granted it back: embedding, searching, converting, exporting.
REVOKE SELECT ON image_search.models FROM PUBLIC;
SET ROLE image_search_pv_role;
SELECT embed_image('pv_model', 'tutorial_data/mnist_data/test/923.jpg') IS NOT NULL AS embedded;
SELECT count(*) FROM search_image('pv_model', 'SELECT * FROM public.pv_images',
                                  ARRAY['tutorial_data/mnist_data/test/923.jpg']);
SELECT convert('pv_model', 'pv_own.outside', image_col => 'img_path', replace => true);
SELECT length(export_model('pv_model')) > 0 AS exported;
RESET ROLE;
GRANT SELECT ON image_search.models TO PUBLIC;
SET ROLE image_search_pv_role;
SELECT embed_image('pv_model', 'tutorial_data/mnist_data/test/923.jpg') IS NOT NULL AS embedded;
RESET ROLE;

DROP TABLE pv_own.outside, pv_own.csv;
DROP SCHEMA pv_own;
DROP TABLE pv_images;
SELECT drop_model('pv_model');
REVOKE USAGE ON SCHEMA image_search FROM image_search_pv_role;
DROP ROLE image_search_pv_role;
RESET search_path;
