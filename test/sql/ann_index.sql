-- The ann index (issue 9): approximate nearest-neighbour search for ORDER BY col <=> q LIMIT k.
-- IVF: k-means puts the rows in `lists` lists; a scan reads the image_search.ann_probes
-- lists whose centroids are nearest to q, and more lists when a WHERE filter needs more rows.
-- With quantizer = 'sq8' (the default) the scan ranks those rows by 8-bit codes first and
-- re-ranks the best by the exact vectors; with 'none' by the exact vectors only.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
SET search_path = public, image_search;
SHOW image_search.ann_probes;

-- 4,000 clustered 16-d rows: 40 centres in [-1, 1]^16, each row a centre plus noise in
-- [-0.6, 0.6] (the clusters overlap); grp = id % 10 (every cluster holds a single grp).
SELECT setseed(0.42);
CREATE TABLE ann_centres AS
  SELECT c, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, 16) WHERE c > 0) AS v
    FROM generate_series(1, 40) c;
CREATE TABLE ann_items AS
  SELECT i AS id, i % 10 AS grp,
         ARRAY(SELECT ((SELECT v[d] FROM ann_centres WHERE c = i % 40 + 1) + random() * 1.2 - 0.6)::real
                 FROM generate_series(1, 16) d)::embedding(16) AS e
    FROM generate_series(1, 4000) i;
ANALYZE ann_items;

--
-- DDL: one operator class per operator; cosine is the default. Option lists (1..10000).
--
CREATE INDEX ann_items_cos ON ann_items USING ann (e embedding_cosine_ops) WITH (lists = 40);
CREATE INDEX ann_items_l2 ON ann_items USING ann (e embedding_l2_ops) WITH (lists = 40);
CREATE INDEX ann_items_ip ON ann_items USING ann (e embedding_ip_ops) WITH (lists = 40);
CREATE INDEX ann_items_default ON ann_items USING ann (e);
SELECT c.relname, o.opcname, c.reloptions
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_opclass o ON o.oid = i.indclass[0]
 WHERE i.indrelid = 'ann_items'::regclass ORDER BY 1;
DROP INDEX ann_items_default;
-- Bad option values and columns the index cannot take.
CREATE INDEX ON ann_items USING ann (e) WITH (lists = 0);
CREATE INDEX ON ann_items USING ann (e) WITH (lists = 10001);
CREATE INDEX ON ann_items USING ann (e) WITH (lists = 'many');
CREATE INDEX ON ann_items USING ann (e) WITH (probes = 3);
CREATE INDEX ON ann_items USING ann (id);
CREATE TABLE ann_nodims (e embedding);
CREATE INDEX ON ann_nodims USING ann (e);
CREATE INDEX ON ann_items USING ann (e, e);
SET image_search.ann_probes = 0;
-- The build keeps one page per list in maintenance_work_mem (8 kB x lists, x 3 with sq8):
-- too little says how much it needs.
SET maintenance_work_mem = '1MB';
CREATE INDEX ON ann_items USING ann (e) WITH (lists = 400);
RESET maintenance_work_mem;

--
-- The planner: the index for ORDER BY ... LIMIT on this table, for each operator.
--
EXPLAIN (COSTS OFF) SELECT id FROM ann_items ORDER BY e <=> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM ann_items ORDER BY e <-> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM ann_items ORDER BY e <#> '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
-- The extension schema's copy of the operator uses it too.
EXPLAIN (COSTS OFF) SELECT id FROM ann_items ORDER BY e OPERATOR(image_search.<=>) '[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]' LIMIT 10;
-- Not for a query without ORDER BY on the operator.
EXPLAIN (COSTS OFF) SELECT id FROM ann_items WHERE id < 5;
-- The query vector may come from a (stable) function call, as in the tutorial's
-- ORDER BY col <=> embed_image(...): it becomes the scan's key (see the convert section
-- below for embed_image itself, whose model runs once per search).
CREATE FUNCTION ann_query(n int) RETURNS embedding LANGUAGE sql STABLE
  AS $$ SELECT e FROM ann_items WHERE id = n $$;
EXPLAIN (COSTS OFF) SELECT id FROM ann_items ORDER BY e <=> ann_query(7) LIMIT 3;
SELECT id FROM ann_items ORDER BY e <=> ann_query(7) LIMIT 3;

--
-- Recall@10 against the exact scan, 20 queries, for each operator (ann_probes 10 of 40 lists),
-- of all rows or of the rows a WHERE filter keeps.
--
CREATE TABLE ann_queries AS SELECT id AS qid, e AS q FROM ann_items WHERE id % 200 = 7;
CREATE FUNCTION ann_recall(op text, filter text DEFAULT 'true') RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE exact_ids int[]; approx_ids int[]; hits int := 0; r record;
BEGIN
  FOR r IN SELECT q FROM ann_queries LOOP
    SET LOCAL enable_indexscan = off;
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM ann_items WHERE %s ORDER BY e %s $1 LIMIT 10) t', filter, op)
      INTO exact_ids USING r.q;
    SET LOCAL enable_indexscan = on;
    SET LOCAL enable_seqscan = off;
    EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM ann_items WHERE %s ORDER BY e %s $1 LIMIT 10) t', filter, op)
      INTO approx_ids USING r.q;
    SET LOCAL enable_seqscan = on;
    hits := hits + (SELECT count(*) FROM unnest(approx_ids) a WHERE a = ANY (exact_ids));
  END LOOP;
  RETURN round(hits::numeric / (10 * (SELECT count(*) FROM ann_queries)), 3);
END $$;
SELECT ann_recall('<=>') AS recall_cosine, ann_recall('<->') AS recall_l2, ann_recall('<#>') AS recall_ip;
-- A filter that keeps 5 % of the rows, all in 2 of the 40 clusters (id % 20 = 3): a query's
-- nearest matches lie beyond its nearest lists. As the filter rejects rows the scan reads
-- further lists and merges them with the rows not yet returned, so it finds them (reading
-- the next lists only once the first ran dry found as few as 0.87 of them here).
SELECT ann_recall('<=>', 'id % 20 = 3') AS filtered_recall_cosine, ann_recall('<->', 'id % 20 = 3') AS filtered_recall_l2;
-- Fewer probes, lower recall: one list of 40.
SET image_search.ann_probes = 1;
SELECT ann_recall('<=>') AS recall_cosine_1_probe, ann_recall('<->') AS recall_l2_1_probe;
RESET image_search.ann_probes;
-- A lateral join rescans the index once per query row.
EXPLAIN (COSTS OFF) SELECT qid, t.id FROM ann_queries, LATERAL (SELECT id FROM ann_items ORDER BY e <=> q LIMIT 10) t;
SELECT count(*) AS rows, count(DISTINCT (qid, id)) AS distinct_pairs
  FROM ann_queries, LATERAL (SELECT id FROM ann_items ORDER BY e <=> q LIMIT 10) t;
-- With every list probed the index is exact: same rows and order as the exact scan.
SET image_search.ann_probes = 40;
SELECT array_agg(id) AS index_top10 FROM (SELECT id FROM ann_items ORDER BY e <=> ann_query(1234) LIMIT 10) t;
SET enable_indexscan = off;
SELECT array_agg(id) AS exact_top10 FROM (SELECT id FROM ann_items ORDER BY e <=> ann_query(1234) LIMIT 10) t;
RESET enable_indexscan;
-- More rows than the first re-ranked set (100): every row once, nearest first within each set.
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids
  FROM (SELECT id FROM ann_items ORDER BY e <=> ann_query(1234) LIMIT 4000) t;
SELECT array_agg(id ORDER BY n) = (SELECT array_agg(id) FROM (SELECT id FROM ann_items ORDER BY e <=> ann_query(1234) LIMIT 100) x)
       AS first_100_as_exact_scan_order_within_them
  FROM (SELECT id, row_number() OVER (ORDER BY e <=> ann_query(1234), id) AS n
          FROM (SELECT id, e FROM ann_items ORDER BY e <=> ann_query(1234) LIMIT 100) y) z;
RESET image_search.ann_probes;

--
-- The quantizer option: 'sq8' (the default; page format 2) or 'none' (exact vectors only,
-- format 1, as indexes built before the option). Bad values are an ERROR naming the valid
-- ones. The option takes effect when the index is built again; each index is read by the
-- format it was built with.
--
CREATE INDEX ON ann_items USING ann (e) WITH (quantizer = 'sq4');
CREATE INDEX ON ann_items USING ann (e) WITH (quantizer = 8);
CREATE INDEX ON ann_items USING ann (e) WITH (quantizer = '');
SELECT pg_relation_size('ann_items_cos') AS sq8_bytes \gset
ALTER INDEX ann_items_cos SET (quantizer = 'none');
ALTER INDEX ann_items_l2 SET (quantizer = 'none');
ALTER INDEX ann_items_ip SET (quantizer = 'none');
SELECT pg_relation_size('ann_items_cos') = :sq8_bytes AS same_index_until_rebuilt;
SELECT ann_recall('<=>') AS recall_cosine_sq8_before_rebuild;
REINDEX TABLE ann_items;
SELECT pg_relation_size('ann_items_cos') < :sq8_bytes AS none_has_no_code_pages;
-- Recall@10 of the exact vectors, for each operator: the same as sq8's above.
SELECT ann_recall('<=>') AS recall_cosine_none, ann_recall('<->') AS recall_l2_none, ann_recall('<#>') AS recall_ip_none;
SELECT ann_recall('<=>', 'id % 20 = 3') AS filtered_recall_cosine_none, ann_recall('<->', 'id % 20 = 3') AS filtered_recall_l2_none;
SET image_search.ann_probes = 1;
SELECT ann_recall('<=>') AS recall_cosine_1_probe_none, ann_recall('<->') AS recall_l2_1_probe_none;
RESET image_search.ann_probes;
-- Back to sq8 for cosine and L2 (default); the inner-product index stays in format 1
-- through the inserts, VACUUM and REINDEX below.
ALTER INDEX ann_items_cos RESET (quantizer);
ALTER INDEX ann_items_l2 SET (quantizer = 'sq8');
REINDEX INDEX ann_items_cos;
REINDEX INDEX ann_items_l2;
SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relname LIKE 'ann_items_%' AND c.relkind = 'i' ORDER BY 1;
SELECT pg_relation_size('ann_items_cos') = :sq8_bytes AS sq8_again;

--
-- A WHERE filter: one list holds no row with grp = 3 most of the time, yet k rows come
-- back (the scan widens to further lists); and all matching rows when fewer than k match.
--
SET image_search.ann_probes = 1;
EXPLAIN (COSTS OFF) SELECT id FROM ann_items WHERE grp = 3 ORDER BY e <=> ann_query(1) LIMIT 10;
SELECT count(*) AS rows, count(DISTINCT id) AS distinct_ids, min(grp) AS min_grp, max(grp) AS max_grp
  FROM (SELECT id, grp FROM ann_items WHERE grp = 3 ORDER BY e <=> ann_query(1) LIMIT 10) t;
SELECT count(*) AS rows FROM (SELECT id FROM ann_items WHERE id IN (5, 1005, 2005, 3995) ORDER BY e <=> ann_query(1) LIMIT 10) t;
RESET image_search.ann_probes;
-- A filter that keeps 1 % of the rows: for its 10 matches the index scan would read about
-- 4 x ann_probes lists per list's worth of rows rejected, the whole index, so the planner
-- prices it above the exact scan (which answers exactly). On these 4,000 rows the exact scan
-- of a tenth costs about what the index's first lists do (both well under a millisecond);
-- a filter keeping half the rows uses the index.
EXPLAIN (COSTS OFF) SELECT id FROM ann_items WHERE id < 40 ORDER BY e <=> ann_query(1) LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM ann_items WHERE id < 2000 ORDER BY e <=> ann_query(1) LIMIT 10;
-- For a filter that keeps few rows, a partial index over just those rows (README): a query
-- with the index's predicate uses it, and its answer is the exact scan's.
CREATE INDEX ann_items_grp3 ON ann_items USING ann (e embedding_cosine_ops) WITH (lists = 4) WHERE grp = 3;
EXPLAIN (COSTS OFF) SELECT id FROM ann_items WHERE grp = 3 ORDER BY e <=> ann_query(1) LIMIT 10;
SELECT (SELECT array_agg(id) FROM (SELECT id FROM ann_items WHERE grp = 3 ORDER BY e <=> ann_query(1) LIMIT 10) t)
     = (SELECT array_agg(id) FROM (SELECT id FROM ann_items WHERE grp = 3 ORDER BY (e <=> ann_query(1)) + 0 LIMIT 10) t)
       AS partial_index_answers_as_exact;
DROP INDEX ann_items_grp3;
-- Different dimensions: the same error as the operator's.
SELECT id FROM ann_items ORDER BY e <=> '[1,2,3]' LIMIT 1;

--
-- Inserts after the build are found; NULL embeddings are not indexed (an index scan does
-- not return them; the exact scan sorts them last).
--
INSERT INTO ann_items VALUES (10001, 99, ARRAY_FILL(5::real, ARRAY[16])), (10002, 99, NULL);
SET enable_seqscan = off;
SELECT id FROM ann_items ORDER BY e <-> ARRAY_FILL(5::real, ARRAY[16])::embedding LIMIT 1;
SELECT count(*) AS grp_99_rows_from_index FROM (SELECT id FROM ann_items WHERE grp = 99 ORDER BY e <=> ann_query(1) LIMIT 5) t;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT count(*) AS grp_99_rows_exact FROM (SELECT id FROM ann_items WHERE grp = 99 ORDER BY e <=> ann_query(1) LIMIT 5) t;
RESET enable_indexscan;
-- Many inserts: lists grow new pages.
INSERT INTO ann_items SELECT 20000 + id, grp, e FROM ann_items WHERE id <= 4000;
SELECT pg_relation_size('ann_items_cos') > 8192 * 45 AS index_grew;
SELECT ann_recall('<=>') >= 0.9 AS recall_after_inserts;

--
-- VACUUM after deleting half the rows: dead entries go, searches stay correct.
--
DELETE FROM ann_items WHERE id % 2 = 0;
VACUUM ann_items;
SET enable_seqscan = off;
SELECT count(*) AS even_ids_found FROM (SELECT id FROM ann_items ORDER BY e <=> ann_query(1) LIMIT 100) t WHERE id % 2 = 0;
SELECT count(*) AS rows FROM (SELECT id FROM ann_items ORDER BY e <=> ann_query(1) LIMIT 100) t;
RESET enable_seqscan;
DELETE FROM ann_queries WHERE qid % 2 = 0;
SELECT ann_recall('<=>') >= 0.9 AS recall_after_vacuum;
SELECT ann_recall('<#>') >= 0.9 AS recall_after_vacuum_none;
-- Statistics count the live entries.
SELECT c.reltuples = (SELECT count(e) FROM ann_items) AS index_reltuples_exact
  FROM pg_class c WHERE c.relname = 'ann_items_cos';

--
-- REINDEX and CREATE INDEX CONCURRENTLY rebuild from the table.
--
REINDEX INDEX ann_items_cos;
SELECT ann_recall('<=>') >= 0.9 AS recall_after_reindex;
DROP INDEX ann_items_l2;
CREATE INDEX CONCURRENTLY ann_items_l2 ON ann_items USING ann (e embedding_l2_ops) WITH (lists = 20);
SELECT indisvalid FROM pg_index WHERE indexrelid = 'ann_items_l2'::regclass;
SELECT ann_recall('<->') >= 0.9 AS recall_concurrent_build;

--
-- Empty and one-row tables; the planner keeps the exact scan for a tiny table.
--
CREATE TABLE ann_small (id int, e embedding(3));
CREATE INDEX ann_small_idx ON ann_small USING ann (e) WITH (lists = 4);
SET enable_seqscan = off;
SELECT id FROM ann_small ORDER BY e <=> '[1,0,0]' LIMIT 5;
INSERT INTO ann_small VALUES (1, '[1,2,3]');
SELECT id FROM ann_small ORDER BY e <=> '[1,0,0]' LIMIT 5;
RESET enable_seqscan;
TRUNCATE ann_small;
INSERT INTO ann_small VALUES (1, '[1,2,3]');
REINDEX INDEX ann_small_idx;
INSERT INTO ann_small VALUES (2, '[1,0,0]'), (3, NULL), (4, '[0,0,1]');
ANALYZE ann_small;
EXPLAIN (COSTS OFF) SELECT id FROM ann_small ORDER BY e <=> '[1,0,0]' LIMIT 2;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ann_small ORDER BY e <=> '[1,0,0]' LIMIT 2;
SELECT id FROM ann_small ORDER BY e <=> '[1,0,0]' LIMIT 5;
-- ORDER BY against NULL: every indexed row, in no particular order.
SELECT count(*) AS rows FROM (SELECT id FROM ann_small ORDER BY e <=> NULL LIMIT 5) t;
RESET enable_seqscan;
-- Over 1,000 dimensions the quantiser's offsets and scales take two pages.
CREATE TABLE ann_wide (id int, e embedding(1500));
INSERT INTO ann_wide SELECT i, ARRAY(SELECT sin(i * d + i % 7) FROM generate_series(1, 1500) d)::embedding
  FROM generate_series(1, 300) i;
CREATE INDEX ann_wide_idx ON ann_wide USING ann (e) WITH (lists = 3, quantizer = 'sq8');
INSERT INTO ann_wide SELECT i, ARRAY(SELECT cos(i * d) FROM generate_series(1, 1500) d)::embedding
  FROM generate_series(301, 330) i;
SET enable_seqscan = off;
SET image_search.ann_probes = 3;
SELECT array_agg(id) AS wide_index_top5
  FROM (SELECT id FROM ann_wide ORDER BY e <-> (SELECT e FROM ann_wide WHERE id = 305) LIMIT 5) t \gset
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT array_agg(id) = :'wide_index_top5' AS wide_same_as_exact_scan
  FROM (SELECT id FROM ann_wide ORDER BY e <-> (SELECT e FROM ann_wide WHERE id = 305) LIMIT 5) t;
RESET enable_indexscan;
RESET image_search.ann_probes;
-- An unlogged table's index works as well (its init fork is an empty index).
CREATE UNLOGGED TABLE ann_unlogged (e embedding(2));
CREATE INDEX ON ann_unlogged USING ann (e embedding_l2_ops) WITH (lists = 2);
INSERT INTO ann_unlogged SELECT ARRAY[i, i]::real[]::embedding FROM generate_series(1, 50) i;
SET enable_seqscan = off;
SELECT e FROM ann_unlogged ORDER BY e <-> '[10,10]' LIMIT 2;
RESET enable_seqscan;

DROP TABLE ann_items, ann_centres, ann_queries, ann_small, ann_nodims, ann_unlogged, ann_wide;
DROP FUNCTION ann_query(int);
DROP FUNCTION ann_recall(text, text);

--
-- convert into an indexed column: convert(..., replace => true) rewrites the embeddings in
-- place and the index follows; the tutorial's search uses it, embedding the query once.
--
SET client_min_messages = warning;
SELECT load_csv('ann_mnist', 'tutorial_data/mnist_data/mnist_test.csv', overwrite => true);
SELECT model_name, epochs FROM build_model('ann_model', 'SELECT * FROM ann_mnist LIMIT 100',
                                           image_col => 'img_path', max_epochs => 1, overwrite => true);
RESET client_min_messages;
SELECT convert('ann_model', 'ann_mnist', image_col => 'img_path');
CREATE INDEX ann_mnist_idx ON ann_mnist USING ann (ann_model_simclr) WITH (lists = 5);
SELECT convert('ann_model', 'ann_mnist', image_col => 'img_path', replace => true);
SET enable_seqscan = off;
SET image_search.ann_probes = 5;
EXPLAIN (COSTS OFF) SELECT filename FROM ann_mnist
  ORDER BY ann_model_simclr <=> embed_image('ann_model', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 5;
SELECT encoder_runs() AS runs_before \gset
SELECT array_agg(filename) AS index_top5 FROM (SELECT filename FROM ann_mnist
  ORDER BY ann_model_simclr <=> embed_image('ann_model', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 5) t \gset
SELECT encoder_runs() - :runs_before AS encoder_runs_for_the_search;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT array_agg(filename) = :'index_top5' AS same_as_exact_scan FROM (SELECT filename FROM ann_mnist
  ORDER BY ann_model_simclr <=> embed_image('ann_model', 'tutorial_data/mnist_data/test/923.jpg') LIMIT 5) t;
RESET enable_indexscan;
RESET image_search.ann_probes;
SELECT drop_model('ann_model');
DROP TABLE ann_mnist;
