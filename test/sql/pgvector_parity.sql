-- pgvector parity: pgvector 0.8's own regression statements for its `vector` type
-- (test/sql/vector_type.sql, cast.sql and the vector part of btree.sql; halfvec, sparsevec
-- and bit left out), run against `embedding` with the type name swapped. Every answer is
-- pgvector's, value and message, with `embedding` where pgvector says `vector`. pgvector's
-- internal support functions vector_cmp, vector_avg and array_to_vector are called by our
-- names for them: embedding_cmp, embedding_avg and array_to_embedding.
SET client_min_messages = warning;  -- no NOTICE whether or not it already exists
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
SET search_path = public, image_search;

-- Text input: whitespace, signs, trailing points
SELECT '[1,2,3]'::embedding;
SELECT '[-1,-2,-3]'::embedding;
SELECT '[1.,2.,3.]'::embedding;
SELECT ' [ 1,  2 ,    3  ] '::embedding;
SELECT '[1.23456]'::embedding;

-- Text input: bad numbers, NaN and infinities are refused; numbers beyond float4's range are
-- named; large and small exponents print in float4out's shortest round-trip form
SELECT '[hello,1]'::embedding;
SELECT '[NaN,1]'::embedding;
SELECT '[Infinity,1]'::embedding;
SELECT '[-Infinity,1]'::embedding;
SELECT '[1.5e38,-1.5e38]'::embedding;
SELECT '[1.5e+38,-1.5e+38]'::embedding;
SELECT '[1.5e-38,-1.5e-38]'::embedding;
SELECT '[4e38,1]'::embedding;
SELECT '[-4e38,1]'::embedding;
SELECT '[1e-46,1]'::embedding;
SELECT '[-1e-46,1]'::embedding;

-- Text input: malformed literals, with the DETAIL pgvector gives
SELECT '[1,2,3'::embedding;
SELECT '[1,2,3]9'::embedding;
SELECT '1,2,3'::embedding;
SELECT ''::embedding;
SELECT '['::embedding;
SELECT '[ '::embedding;
SELECT '[,'::embedding;
SELECT '[]'::embedding;
SELECT '[ ]'::embedding;
SELECT '[,]'::embedding;
SELECT '[1,]'::embedding;
SELECT '[1a]'::embedding;
SELECT '[1,,3]'::embedding;
SELECT '[1, ,3]'::embedding;

-- Type modifier: embedding(n) fixes the dimension, checked like pgvector's
SELECT '[1,2,3]'::embedding(3);
SELECT '[1,2,3]'::embedding(2);
SELECT '[1,2,3]'::embedding(3, 2);
SELECT '[1,2,3]'::embedding('a');
SELECT '[1,2,3]'::embedding(0);
SELECT '[1,2,3]'::embedding(16001);

-- Arrays of embeddings, with the element's type modifier
SELECT unnest('{"[1,2,3]", "[4,5,6]"}'::embedding[]);
SELECT '{"[1,2,3]"}'::embedding(2)[];

-- Element-wise +, - and * (errors on overflow, underflow and different dimensions)
SELECT '[1,2,3]'::embedding + '[4,5,6]';
SELECT '[3e38]'::embedding + '[3e38]';
SELECT '[1,2]'::embedding + '[3]';
SELECT '[1,2,3]'::embedding - '[4,5,6]';
SELECT '[-3e38]'::embedding - '[3e38]';
SELECT '[1,2]'::embedding - '[3]';
SELECT '[1,2,3]'::embedding * '[4,5,6]';
SELECT '[1e37]'::embedding * '[1e37]';
SELECT '[1e-37]'::embedding * '[1e-37]';
SELECT '[1,2]'::embedding * '[3]';

-- || concatenates, up to 16000 dimensions
SELECT '[1,2,3]'::embedding || '[4,5]';
SELECT array_fill(0, ARRAY[16000])::embedding || '[1]';

-- Comparison operators: element by element, then by length
SELECT '[1,2,3]'::embedding < '[1,2,3]';
SELECT '[1,2,3]'::embedding < '[1,2]';
SELECT '[1,2,3]'::embedding <= '[1,2,3]';
SELECT '[1,2,3]'::embedding <= '[1,2]';
SELECT '[1,2,3]'::embedding = '[1,2,3]';
SELECT '[1,2,3]'::embedding = '[1,2]';
SELECT '[1,2,3]'::embedding != '[1,2,3]';
SELECT '[1,2,3]'::embedding != '[1,2]';
SELECT '[1,2,3]'::embedding >= '[1,2,3]';
SELECT '[1,2,3]'::embedding >= '[1,2]';
SELECT '[1,2,3]'::embedding > '[1,2,3]';
SELECT '[1,2,3]'::embedding > '[1,2]';

-- embedding_cmp, the btree support function (pgvector's vector_cmp)
SELECT embedding_cmp('[1,2,3]', '[1,2,3]');
SELECT embedding_cmp('[1,2,3]', '[0,0,0]');
SELECT embedding_cmp('[0,0,0]', '[1,2,3]');
SELECT embedding_cmp('[1,2]', '[1,2,3]');
SELECT embedding_cmp('[1,2,3]', '[1,2]');
SELECT embedding_cmp('[1,2]', '[2,3,4]');
SELECT embedding_cmp('[2,3]', '[1,2,3]');

-- vector_dims and vector_norm
SELECT vector_dims('[1,2,3]'::embedding);
SELECT round(vector_norm('[1,1]')::numeric, 5);
SELECT vector_norm('[3,4]');
SELECT vector_norm('[0,1]');
SELECT vector_norm('[3e37,4e37]')::real;
SELECT vector_norm('[0,0]');
SELECT vector_norm('[2]');

-- l2_distance and <->
SELECT l2_distance('[0,0]'::embedding, '[3,4]');
SELECT l2_distance('[0,0]'::embedding, '[0,1]');
SELECT l2_distance('[1,2]'::embedding, '[3]');
SELECT l2_distance('[3e38]'::embedding, '[-3e38]');
SELECT l2_distance('[1,1,1,1,1,1,1,1,1]'::embedding, '[1,1,1,1,1,1,1,4,5]');
SELECT '[0,0]'::embedding <-> '[3,4]';

-- inner_product and <#> (its negative)
SELECT inner_product('[1,2]'::embedding, '[3,4]');
SELECT inner_product('[1,2]'::embedding, '[3]');
SELECT inner_product('[3e38]'::embedding, '[3e38]');
SELECT inner_product('[1,1,1,1,1,1,1,1,1]'::embedding, '[1,2,3,4,5,6,7,8,9]');
SELECT '[1,2]'::embedding <#> '[3,4]';

-- cosine_distance and <=>
SELECT cosine_distance('[1,2]'::embedding, '[2,4]');
SELECT cosine_distance('[1,2]'::embedding, '[0,0]');
SELECT cosine_distance('[1,1]'::embedding, '[1,1]');
SELECT cosine_distance('[1,0]'::embedding, '[0,2]');
SELECT cosine_distance('[1,1]'::embedding, '[-1,-1]');
SELECT cosine_distance('[1,2]'::embedding, '[3]');
SELECT cosine_distance('[1,1]'::embedding, '[1.1,1.1]');
SELECT cosine_distance('[1,1]'::embedding, '[-1.1,-1.1]');
SELECT cosine_distance('[3e38]'::embedding, '[3e38]');
SELECT cosine_distance('[1,2,3,4,5,6,7,8,9]'::embedding, '[1,2,3,4,5,6,7,8,9]');
SELECT cosine_distance('[1,2,3,4,5,6,7,8,9]'::embedding, '[-1,-2,-3,-4,-5,-6,-7,-8,-9]');
SELECT '[1,2]'::embedding <=> '[2,4]';

-- l1_distance and <+>
SELECT l1_distance('[0,0]'::embedding, '[3,4]');
SELECT l1_distance('[0,0]'::embedding, '[0,1]');
SELECT l1_distance('[1,2]'::embedding, '[3]');
SELECT l1_distance('[3e38]'::embedding, '[-3e38]');
SELECT l1_distance('[1,2,3,4,5,6,7,8,9]'::embedding, '[1,2,3,4,5,6,7,8,9]');
SELECT l1_distance('[1,2,3,4,5,6,7,8,9]'::embedding, '[0,3,2,5,4,7,6,9,8]');
SELECT '[0,0]'::embedding <+> '[3,4]';

-- l2_normalize
SELECT l2_normalize('[3,4]'::embedding);
SELECT l2_normalize('[3,0]'::embedding);
SELECT l2_normalize('[0,0.1]'::embedding);
SELECT l2_normalize('[0,0]'::embedding);
SELECT l2_normalize('[3e38]'::embedding);

-- binary_quantize: one bit per dimension, set where the value is positive
SELECT binary_quantize('[1,0,-1]'::embedding);
SELECT binary_quantize('[0,0.1,-0.2,-0.3,0.4,0.5,0.6,-0.7,0.8,-0.9,1]'::embedding);
SELECT binary_quantize('[1,2,3,-4,5,6,-7,8,1,-2,-3,4,5,-6,7,8,-1,2,3]'::embedding);

-- subvector(v, start, count): 1-based like substring, clipped to the embedding
SELECT subvector('[1,2,3,4,5]'::embedding, 1, 3);
SELECT subvector('[1,2,3,4,5]'::embedding, 3, 2);
SELECT subvector('[1,2,3,4,5]'::embedding, -1, 3);
SELECT subvector('[1,2,3,4,5]'::embedding, 3, 9);
SELECT subvector('[1,2,3,4,5]'::embedding, 1, 0);
SELECT subvector('[1,2,3,4,5]'::embedding, 3, -1);
SELECT subvector('[1,2,3,4,5]'::embedding, -1, 2);
SELECT subvector('[1,2,3,4,5]'::embedding, 2147483647, 10);
SELECT subvector('[1,2,3,4,5]'::embedding, 3, 2147483647);
SELECT subvector('[1,2,3,4,5]'::embedding, -2147483644, 2147483647);

-- avg aggregate, and its final function embedding_avg (pgvector's vector_avg)
SELECT avg(v) FROM unnest(ARRAY['[1,2,3]'::embedding, '[3,5,7]']) v;
SELECT avg(v) FROM unnest(ARRAY['[1,2,3]'::embedding, '[3,5,7]', NULL]) v;
SELECT avg(v) FROM unnest(ARRAY[]::embedding[]) v;
SELECT avg(v) FROM unnest(ARRAY['[1,2]'::embedding, '[3]']) v;
SELECT avg(v) FROM unnest(ARRAY['[3e38]'::embedding, '[3e38]']) v;
SELECT embedding_avg(array_agg(n)) FROM generate_series(1, 16002) n;

-- sum aggregate
SELECT sum(v) FROM unnest(ARRAY['[1,2,3]'::embedding, '[3,5,7]']) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2,3]'::embedding, '[3,5,7]', NULL]) v;
SELECT sum(v) FROM unnest(ARRAY[]::embedding[]) v;
SELECT sum(v) FROM unnest(ARRAY['[1,2]'::embedding, '[3]']) v;
SELECT sum(v) FROM unnest(ARRAY['[3e38]'::embedding, '[3e38]']) v;

-- Casts from integer[], numeric[], real[] and double precision[]
SELECT ARRAY[1,2,3]::embedding;
SELECT ARRAY[1.0,2.0,3.0]::embedding;
SELECT ARRAY[1,2,3]::float4[]::embedding;
SELECT ARRAY[1,2,3]::float8[]::embedding;
SELECT ARRAY[1,2,3]::numeric[]::embedding;

-- Cast to real[]
SELECT '[1,2,3]'::embedding::real[];

-- real[] to embedding: type modifier, NULLs, non-finite values, empty and 2-D arrays
SELECT '{1,2,3}'::real[]::embedding;
SELECT '{1,2,3}'::real[]::embedding(3);
SELECT '{1,2,3}'::real[]::embedding(2);
SELECT '{NULL}'::real[]::embedding;
SELECT '{NaN}'::real[]::embedding;
SELECT '{Infinity}'::real[]::embedding;
SELECT '{-Infinity}'::real[]::embedding;
SELECT '{}'::real[]::embedding;
SELECT '{{1}}'::real[]::embedding;

-- double precision[] to embedding: type modifier and values out of float4's range
SELECT '{1,2,3}'::double precision[]::embedding;
SELECT '{1,2,3}'::double precision[]::embedding(3);
SELECT '{1,2,3}'::double precision[]::embedding(2);
SELECT '{4e38,-4e38}'::double precision[]::embedding;
SELECT '{1e-46,-1e-46}'::double precision[]::embedding;

-- At most 16000 dimensions from an array
SELECT array_agg(n)::embedding FROM generate_series(1, 16001) n;
SELECT array_to_embedding(array_agg(n), 16001, false) FROM generate_series(1, 16001) n;

-- Array equality is not made ambiguous by the casts
SELECT ARRAY[1,2,3] = ARRAY[1,2,3];

-- btree index on an embedding column (pgvector's btree.sql)
SET enable_seqscan = off;
CREATE TABLE t (val embedding(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t (val);
SELECT * FROM t WHERE val = '[1,2,3]';
SELECT * FROM t ORDER BY val;
DROP TABLE t;
RESET enable_seqscan;
RESET search_path;
