-- image_search 0.1.0 -> 0.2.0
-- model_list shows each model's training throughput (images/s of its last epoch).
\echo Use "ALTER EXTENSION image_search UPDATE TO '0.2.0'" to load this file. \quit

CREATE OR REPLACE VIEW @extschema@.model_list WITH (security_invoker = true) AS
SELECT name, algorithm, architecture, channels, image_size, embedding_dim, rows_used,
       jsonb_array_length(epoch_log) AS epochs,
       round((epoch_log -> -1 ->> 'loss')::numeric, 4) AS final_loss,
       round(train_seconds::numeric, 2) AS train_seconds,
       pg_size_pretty(length(encoder_onnx)::bigint) AS encoder_size,
       created_by, created_at,
       round((epoch_log -> -1 ->> 'images_per_second')::numeric) AS images_per_second
FROM @extschema@.models ORDER BY name;
