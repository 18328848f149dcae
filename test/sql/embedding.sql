-- image_search.embedding: a float4 vector type, byte-compatible with pgvector's
-- `vector` (same on-disk layout and binary wire format).
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
SET search_path = public, image_search;

--
-- Text input and output
--

-- Whitespace around brackets, commas and numbers is ignored.
SELECT '[1,2,3]'::embedding;
SELECT ' [ 1 , -2.5 ,3 ] '::embedding;
-- Exponents are accepted; output is the shortest text that reads back to the same
-- float4, laid out as Postgres' float4out (and pgvector) lay it out: exponent form,
-- with a sign and at least two digits, for very small or very large magnitudes.
SELECT '[1e3, -2.5E-2, 1e-7, 3e20, 0.0001]'::embedding;
SELECT '[-0, 0.1, 0.3333333333]'::embedding;
-- Round trip: text -> embedding -> text -> embedding gives the same value.
SELECT v::text, v::text::embedding = v AS same
FROM (VALUES ('[0.1,0.2,0.3]'::embedding), ('[3.4028235e38,-1.1754944e-38,1e-45]'),
             ('[0.33333334,1234567.9,-7]')) AS t(v)
ORDER BY 1;

-- Malformed text, non-finite values and empty vectors are rejected.
SELECT '1,2,3'::embedding;
SELECT '[1,2,3'::embedding;
SELECT '[1,,3]'::embedding;
SELECT '[1,2,]'::embedding;
SELECT '[1 2]'::embedding;
SELECT '[a]'::embedding;
SELECT '[NaN]'::embedding;
SELECT '[1,Infinity]'::embedding;
SELECT '[-inf]'::embedding;
SELECT '[1e39]'::embedding;
SELECT '[]'::embedding;
SELECT '[ ]'::embedding;
-- At most 16000 dimensions.
SELECT vector_dims(('[' || array_to_string(array_fill(1, ARRAY[16000]), ',') || ']')::embedding);
SELECT ('[' || array_to_string(array_fill(1, ARRAY[16001]), ',') || ']')::embedding;

--
-- Type modifier: embedding(n) fixes the number of dimensions
--

CREATE TABLE emb_typmod (id int, v embedding(3));
\d emb_typmod
INSERT INTO emb_typmod VALUES (1, '[1,2,3]');
INSERT INTO emb_typmod VALUES (2, '[1,2]');
INSERT INTO emb_typmod VALUES (3, '[1,2,3,4]');
-- The dimension is checked on assignment from another embedding or an array too.
INSERT INTO emb_typmod VALUES (4, '[1,2]'::embedding);
INSERT INTO emb_typmod VALUES (5, ARRAY[1,2]::real[]);
INSERT INTO emb_typmod VALUES (6, ARRAY[4,5,6]::real[]);
SELECT * FROM emb_typmod ORDER BY id;
DROP TABLE emb_typmod;
-- Casting to embedding(n) checks too.
SELECT '[1,2]'::embedding(2);
SELECT '[1,2]'::embedding(3);
SELECT '[1,2,3]'::embedding::embedding(2);
-- Dimensions must be in 1..16000.
SELECT '[1]'::embedding(0);
SELECT '[1]'::embedding(16001);
CREATE TABLE emb_bad (v embedding(0));
CREATE TABLE emb_bad (v embedding(2, 3));
SELECT format_type('embedding'::regtype, 128), format_type('embedding'::regtype, -1);

--
-- Operators: <=> cosine distance, <-> Euclidean (L2) distance, <#> negative inner product
--

-- Cosine distance is 1 - cos(angle): 0 for parallel vectors (whatever their length),
-- 1 for orthogonal ones, 2 for opposite ones.
SELECT '[1,2,3]'::embedding <=> '[2,4,6]' AS parallel,
       '[1,0]'::embedding <=> '[0,5]' AS orthogonal,
       '[1,1]'::embedding <=> '[-3,-3]' AS opposite;
-- cos(45 degrees) = 1/sqrt(2)
SELECT round(('[1,0]'::embedding <=> '[1,1]')::numeric, 6) AS dist,
       round(1 - 1 / sqrt(2)::numeric, 6) AS expected;
-- A zero vector has no direction: its cosine distance is NaN, as in pgvector.
SELECT '[0,0]'::embedding <=> '[1,2]' AS zero_left, '[1,2]'::embedding <=> '[0,0]' AS zero_right;
-- L2 distance: the 3-4-5 triangle.
SELECT '[0,0]'::embedding <-> '[3,4]' AS l2, '[1,2,3]'::embedding <-> '[1,2,3]' AS same;
-- Negative inner product, so that ascending order puts the largest product first:
-- 1*4 + 2*5 + 3*6 = 32 (and -0 for orthogonal vectors, as in pgvector).
SELECT '[1,2,3]'::embedding <#> '[4,5,6]' AS neg_ip, '[1,0]'::embedding <#> '[0,1]' AS orthogonal;
-- Equality compares every component.
SELECT '[1,2]'::embedding = '[1,2]' AS eq, '[1,2]'::embedding = '[1,2.0001]' AS eq2,
       '[1,2]'::embedding <> '[2,1]' AS ne, '[0]'::embedding = '[-0]' AS zeros;
-- Operands must have the same number of dimensions.
SELECT '[1,2]'::embedding <=> '[1,2,3]';
SELECT '[1,2]'::embedding <-> '[1,2,3]';
SELECT '[1,2]'::embedding <#> '[1,2,3]';
-- NULL in, NULL out.
SELECT NULL::embedding <=> '[1]' IS NULL AS is_null;

--
-- Functions
--

SELECT cosine_similarity('[1,2,3]', '[2,4,6]') AS parallel,
       cosine_similarity('[1,0]', '[0,1]') AS orthogonal,
       cosine_similarity('[1,1]', '[-1,-1]') AS opposite,
       cosine_similarity('[0,0]', '[1,1]') AS zero;
SELECT cosine_distance('[1,2,3]', '[2,4,6]') AS parallel,
       cosine_distance('[1,0]', '[0,1]') AS orthogonal,
       cosine_distance('[1,1]', '[-1,-1]') AS opposite;
-- The functions agree with the operators.
SELECT cosine_distance('[1,2]', '[3,-1]') = ('[1,2]'::embedding <=> '[3,-1]') AS cos_ok,
       l2_distance('[1,2]', '[3,-1]') = ('[1,2]'::embedding <-> '[3,-1]') AS l2_ok,
       -inner_product('[1,2]', '[3,-1]') = ('[1,2]'::embedding <#> '[3,-1]') AS ip_ok;
-- (1-3)^2 + (2+1)^2 = 13
SELECT round(l2_distance('[1,2]', '[3,-1]')::numeric, 6) AS l2, round(sqrt(13)::numeric, 6) AS expected;
SELECT inner_product('[1,2,3]', '[4,5,6]') AS ip, inner_product('[1,-1]', '[1,1]') AS zero;
SELECT inner_product('[1,2]', '[1]');
SELECT cosine_similarity('[1,2]', '[1]');
-- Norm, dimensions and normalisation.
SELECT vector_norm('[3,4]') AS norm, vector_norm('[0,0,0]') AS zero, vector_dims('[1,2,3]') AS dims;
SELECT l2_normalize('[3,4]') AS unit, l2_normalize('[0,0]') AS zero_stays_zero,
       l2_normalize('[-2]') AS minus_one;
-- Very large and very small components: the norm is summed in double precision,
-- so their squares neither overflow nor vanish.
SELECT vector_norm('[3e20,4e20]')::real AS big_norm, vector_norm('[3e-25,4e-25]')::real AS tiny_norm;
SELECT l2_normalize('[3e20,4e20]') AS big, l2_normalize('[3e-25,4e-25]') AS tiny;
-- A normalised vector has length 1 and points the same way.
SELECT round(vector_norm(l2_normalize('[1,2,3,4,5]'))::numeric, 6) AS norm,
       round((l2_normalize('[1,2,3,4,5]') <=> '[1,2,3,4,5]')::numeric, 6) AS dist;

--
-- Casts to and from arrays
--

SELECT ARRAY[1,2,3]::real[]::embedding AS from_real,
       ARRAY[1.5,-2.25]::double precision[]::embedding AS from_double,
       '{4,5}'::int[]::real[]::embedding AS from_int_via_real;
SELECT '[1,2.5,-3]'::embedding::real[] AS to_real,
       '[1,2.5,-3]'::embedding::double precision[] AS to_double;
-- float4 precision: 0.1 is stored as the nearest float4.
SELECT '[0.1]'::embedding::double precision[] AS widened;
SELECT ARRAY[0.1]::double precision[]::embedding AS narrowed;
-- Round trip through real[] is exact.
SELECT v::real[]::embedding = v AS same FROM (VALUES ('[0.1,1e-30,3e38]'::embedding)) AS t(v);
-- Arrays with NULLs, non-finite values or no elements are rejected.
SELECT ARRAY[1,NULL,3]::real[]::embedding;
SELECT ARRAY[1,NULL]::double precision[]::embedding;
SELECT ARRAY['NaN']::real[]::embedding;
SELECT ARRAY['Infinity']::double precision[]::embedding;
SELECT ARRAY[1e300]::double precision[]::embedding;
SELECT '{}'::real[]::embedding;
-- Multi-dimensional arrays are not flattened.
SELECT '{{1,2},{3,4}}'::real[]::embedding;
SELECT '{{1,2},{3,4}}'::double precision[]::embedding;
-- Lower bounds other than 1 do not matter.
SELECT '[0:2]={7,8,9}'::real[]::embedding AS shifted;
SELECT ARRAY[1,2]::real[]::embedding(3);

--
-- avg aggregate: the component-wise mean
--

CREATE TABLE emb_avg (grp int, v embedding);
INSERT INTO emb_avg VALUES (1, '[1,2,3]'), (1, '[3,4,5]'), (1, NULL), (2, '[-1,1]'), (2, '[1,-1]'), (2, '[0.5,0.25]');
SELECT grp, avg(v), count(v) FROM emb_avg GROUP BY grp ORDER BY grp;
-- Over no rows (or only NULLs) the average is NULL.
SELECT avg(v) IS NULL AS empty FROM emb_avg WHERE false;
SELECT avg(v) IS NULL AS only_nulls FROM emb_avg WHERE v IS NULL;
-- All rows must have the same dimension.
SELECT avg(v) FROM emb_avg;
DROP TABLE emb_avg;

--
-- Exact nearest-neighbour search: ORDER BY distance LIMIT k
--

CREATE TABLE emb_items (id int PRIMARY KEY, v embedding(2));
INSERT INTO emb_items VALUES
  (1, '[1,0]'), (2, '[0,1]'), (3, '[1,1]'), (4, '[-1,0]'), (5, '[2,0.1]'), (6, '[0.5,-3]'), (7, '[-2,-2]');
-- By angle to [1,0]: 1 and 5 point (almost) the same way, 4 the opposite way.
SELECT id, v, round((v <=> '[1,0]')::numeric, 6) AS cos_dist
FROM emb_items ORDER BY v <=> '[1,0]', id LIMIT 4;
-- By Euclidean distance to [1,0].
SELECT id, v, round((v <-> '[1,0]')::numeric, 6) AS l2
FROM emb_items ORDER BY v <-> '[1,0]', id LIMIT 3;
-- By inner product with [1,1], largest first.
SELECT id, v, round((v <#> '[1,1]')::numeric, 6) AS neg_ip
FROM emb_items ORDER BY v <#> '[1,1]', id LIMIT 3;

--
-- Binary I/O: pgvector's wire format
--

-- int16 dimension, int16 unused (0), then each float4, all big-endian:
-- [1,2] is 0002 0000 3f800000 40000000, exactly what pgvector's vector_send gives.
SELECT embedding_send('[1,2]') AS bytes,
       embedding_send('[1,2]') = '\x00020000 3f800000 40000000'::bytea AS pgvector_format;
SELECT embedding_send('[-2]') AS minus_two;

-- COPY ... WITH (FORMAT binary) round trip through a server-side file.
COPY emb_items TO '/tmp/image_search_regress_embedding.bin' WITH (FORMAT binary);
CREATE TABLE emb_items_copy (id int, v embedding(2));
COPY emb_items_copy FROM '/tmp/image_search_regress_embedding.bin' WITH (FORMAT binary);
SELECT count(*) AS copied,
       count(*) FILTER (WHERE a.v = b.v) AS identical
FROM emb_items a JOIN emb_items_copy b USING (id);
-- The typmod is enforced on binary input as well.
CREATE TABLE emb_items_3d (id int, v embedding(3));
COPY emb_items_3d FROM '/tmp/image_search_regress_embedding.bin' WITH (FORMAT binary);
-- The file holds each value in the wire format: for the row [1,0], the field
-- length 12 (0000000c) followed by 0002 0000 3f800000 00000000.
SELECT position('\x0000000c000200003f80000000000000'::bytea
                IN pg_read_binary_file('/tmp/image_search_regress_embedding.bin')) > 0 AS found;
COPY (SELECT WHERE false) TO PROGRAM 'rm -f /tmp/image_search_regress_embedding.bin';
DROP TABLE emb_items, emb_items_copy, emb_items_3d;
RESET search_path;
