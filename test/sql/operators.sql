-- The distance operators work right after CREATE EXTENSION, whatever the search_path:
-- they exist in pg_catalog (always searched) as well as in image_search. Operators are
-- resolved by argument types, so a type of another extension named vector, with
-- operators of the same names, is never confused with embedding.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
RESET search_path;
SHOW search_path;
SELECT '[1,0]'::image_search.embedding <=> '[0,1]'::image_search.embedding AS cosine,
       '[1,0]'::image_search.embedding <-> '[0,1]'::image_search.embedding AS l2,
       '[1,2]'::image_search.embedding <#> '[3,4]'::image_search.embedding AS negative_inner,
       '[1,2]'::image_search.embedding = '[1,2]'::image_search.embedding AS equal,
       '[1,2]'::image_search.embedding <> '[1,2]'::image_search.embedding AS not_equal;
CREATE TABLE op_rows (id int, e image_search.embedding(2));
INSERT INTO op_rows VALUES (1, '[1,0]'), (2, '[0,1]'), (3, '[1,1]');
SELECT id FROM op_rows ORDER BY e <=> '[1,0.1]' LIMIT 2;
SELECT id FROM op_rows ORDER BY e <-> '[0,2]' LIMIT 1;
-- With image_search on the path, the same answers.
SET search_path = public, image_search;
SELECT id FROM op_rows ORDER BY e <=> '[1,0.1]' LIMIT 2;
SELECT id FROM op_rows WHERE e = '[1,1]';
-- Another type called vector with its own <=> (standing in for pgvector's) changes nothing.
CREATE TYPE vector AS (x float8, y float8);
CREATE FUNCTION vector_distance(a vector, b vector) RETURNS float8 LANGUAGE sql IMMUTABLE
    AS $$ SELECT 42.0::float8 $$;
CREATE OPERATOR public.<=> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = vector_distance);
RESET search_path;
SELECT id FROM op_rows ORDER BY e <=> '[1,0.1]' LIMIT 2;
SELECT ROW(1, 2)::vector <=> ROW(3, 4)::vector AS other_types_operator;
DROP OPERATOR public.<=> (vector, vector);
DROP FUNCTION vector_distance(vector, vector);
DROP TYPE vector;
DROP TABLE op_rows;

--
-- btree and hash operator classes: DISTINCT, GROUP BY, UNION, ORDER BY, joins and plain
-- indexes work on embedding columns. The order is element by element, then by length.
--
CREATE TABLE op_dup (id int, e image_search.embedding);
INSERT INTO op_dup VALUES (1, '[1,2]'), (2, '[1,2]'), (3, '[0,5]'), (4, '[1,2,0]'), (5, '[-0,5]'), (6, NULL);
SELECT e FROM op_dup ORDER BY e;
SELECT DISTINCT e FROM op_dup ORDER BY e;
SELECT e, count(*) FROM op_dup GROUP BY e ORDER BY e;
SELECT e FROM op_dup WHERE id <= 2 UNION SELECT e FROM op_dup WHERE id = 3 ORDER BY 1;
SELECT '[1,2]'::image_search.embedding < '[1,3]', '[2]'::image_search.embedding > '[1,9]',
       '[1,2]'::image_search.embedding <= '[1,2,0]', '[1,2]'::image_search.embedding >= '[1,2]';
-- A hash join and a merge join find the same pairs.
SET enable_mergejoin = off;
SELECT a.id, b.id FROM op_dup a JOIN op_dup b ON a.e = b.e AND a.id < b.id ORDER BY 1, 2;
SET enable_mergejoin = on;
SET enable_hashjoin = off;
SELECT a.id, b.id FROM op_dup a JOIN op_dup b ON a.e = b.e AND a.id < b.id ORDER BY 1, 2;
RESET enable_hashjoin;
-- Plain btree and hash indexes serve equality.
CREATE INDEX op_dup_btree ON op_dup (e);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM op_dup WHERE e = '[0,5]';
SELECT id FROM op_dup WHERE e = '[0,5]' ORDER BY id;
DROP INDEX op_dup_btree;
CREATE INDEX op_dup_hash ON op_dup USING hash (e);
EXPLAIN (COSTS OFF) SELECT id FROM op_dup WHERE e = '[0,5]';
SELECT id FROM op_dup WHERE e = '[0,5]' ORDER BY id;
RESET enable_seqscan;
DROP TABLE op_dup;
