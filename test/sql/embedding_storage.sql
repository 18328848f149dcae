-- The distance functions read a stored embedding in place when it is a plain value in the
-- page and detoast it otherwise (issue 9). Every form Postgres may store must give the same
-- bits as the same value built afresh from its text (a plain value in memory): a short
-- 1-byte header (small dimensions), a plain 4-byte header, a value moved out of line
-- (TOAST) and a compressed one.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
SET search_path = public, image_search;
CREATE FUNCTION storage_test_vector(dims int, phase float8) RETURNS embedding LANGUAGE sql IMMUTABLE
    AS $$ SELECT array_agg(sin(i * phase)::real ORDER BY i)::embedding FROM generate_series(1, dims) i $$;
CREATE TABLE stored_forms (form text, e embedding, q embedding);
INSERT INTO stored_forms VALUES
    ('short header, 3-d', '[1.5,-2.25,3]', '[0.5,1,-1]'),
    ('plain, 128-d', storage_test_vector(128, 0.7), storage_test_vector(128, 1.3)),
    ('out of line, 1024-d', storage_test_vector(1024, 0.7), storage_test_vector(1024, 1.3));
-- The type's storage is external (out of line, never compressed); a column may ask for
-- compression instead, and a repetitive value then compresses.
CREATE TABLE compressed_forms (form text, e embedding, q embedding);
ALTER TABLE compressed_forms ALTER COLUMN e SET STORAGE main, ALTER COLUMN q SET STORAGE main;
INSERT INTO compressed_forms
    SELECT 'compressed, 1024-d', array_agg((i % 4)::real)::embedding, array_agg((i % 3 - 1)::real)::embedding
    FROM generate_series(1, 1024) i;
-- The forms are what their names say.
SELECT form, pg_column_size(e) AS stored_bytes, 8 + 4 * vector_dims(e) AS plain_bytes,
       pg_column_compression(e) AS compression
FROM (SELECT * FROM stored_forms UNION ALL SELECT * FROM compressed_forms) f ORDER BY form;
SELECT pg_relation_size(reltoastrelid) > 0 AS has_out_of_line_values FROM pg_class WHERE relname = 'stored_forms';
-- Same results from the stored forms as from fresh plain copies (e::text::embedding
-- round-trips exactly: the text form is the shortest that reads back to the same float4).
SELECT form, vector_dims(e) AS dims,
       (e <=> q) = (e::text::embedding <=> q::text::embedding) AS cosine,
       (e <-> q) = (e::text::embedding <-> q::text::embedding) AS l2,
       (e <#> q) = (e::text::embedding <#> q::text::embedding) AS negative_inner,
       (e <+> q) = (e::text::embedding <+> q::text::embedding) AS l1,
       cosine_similarity(e, q) = cosine_similarity(e::text::embedding, q::text::embedding) AS similarity,
       vector_norm(e) = vector_norm(e::text::embedding) AS norm,
       e = e::text::embedding AS equal,
       e::real[] = (e::text::embedding)::real[] AS as_array,
       embedding_send(e) = embedding_send(e::text::embedding) AS wire
FROM (SELECT * FROM stored_forms UNION ALL SELECT * FROM compressed_forms) f ORDER BY form;
-- And the values themselves, so that a change in any kernel shows here.
SELECT form, round((e <=> q)::numeric, 6) AS cosine, round((e <-> q)::numeric, 4) AS l2,
       round((e <#> q)::numeric, 4) AS negative_inner, round((e <+> q)::numeric, 4) AS l1
FROM (SELECT * FROM stored_forms UNION ALL SELECT * FROM compressed_forms) f ORDER BY form;
DROP TABLE stored_forms, compressed_forms;
DROP FUNCTION storage_test_vector(int, float8);
