-- measure(label, query, use_vector, nq, save_truth): the mean ms per query and recall@10
-- of `query` (a SELECT of one int[] of ids, the query vector as $1) over the first nq rows
-- of queries(qid, qe embedding[, qv vector]) with qid >= first_qid, against truth(qid,
-- ids); with save_truth the answers become the truth. (first_qid lets one queries table
-- hold several query sets, as benches/pgvector_side_by_side.sh's PVS_QUERIES does.) Used by benches/pgvector_side_by_side.sh and
-- benches/ann_mnist.sh. EXECUTE plans each query afresh, so settings made before apply;
-- the time is the server's (planning and execution, no client round trip).
CREATE FUNCTION measure(label text, query text, use_vector bool, nq int, save_truth bool DEFAULT false,
                        first_qid int DEFAULT 0)
RETURNS TABLE (what text, recall numeric, ms numeric) LANGUAGE plpgsql AS $$
DECLARE r record; ids int[]; hits int := 0; n int := 0; t0 timestamptz; total interval := '0';
BEGIN
  FOR r IN SELECT * FROM queries WHERE qid >= first_qid ORDER BY qid LIMIT nq LOOP
    t0 := clock_timestamp();
    IF use_vector THEN EXECUTE query INTO ids USING r.qv; ELSE EXECUTE query INTO ids USING r.qe; END IF;
    total := total + (clock_timestamp() - t0);
    n := n + 1;
    IF save_truth THEN
      INSERT INTO truth VALUES (r.qid, ids);
    ELSE
      hits := hits + (SELECT count(*) FROM unnest(ids) a, truth t WHERE t.qid = r.qid AND a = ANY (t.ids));
    END IF;
  END LOOP;
  RETURN QUERY SELECT label, CASE WHEN save_truth THEN 1.0 ELSE round(hits::numeric / (10 * n), 3) END,
                      round(extract(epoch FROM total)::numeric * 1000 / n, 2);
END $$;
