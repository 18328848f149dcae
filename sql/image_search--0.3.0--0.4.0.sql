-- image_search 0.3.0 -> 0.4.0
\echo Use "ALTER EXTENSION image_search UPDATE TO '0.4.0'" to load this file. \quit

-- import_model (issue 10) ---------------------------------------------------------
-- Models may be imported ONNX image encoders (algorithm 'onnx') besides trained ones
-- ('simclr'). encoder_config says how a model's encoder is fed and read; its default
-- describes the encoders build_model trains, so existing models keep working unchanged.
-- model_list shows the column convert adds for each model: <model>_<algorithm>.
ALTER TABLE @extschema@.models ADD COLUMN encoder_config jsonb NOT NULL DEFAULT '{"input": "images", "output": "embedding", "layout": "NCHW",
        "resize": "center_crop", "channel_order": "RGB", "value_range": "0..1", "mean": [0.0], "std": [1.0],
        "pooling": "average", "batch_size": null}';

CREATE OR REPLACE VIEW @extschema@.model_list WITH (security_invoker = true) AS
SELECT name, algorithm, architecture, channels, image_size, embedding_dim, rows_used,
       jsonb_array_length(epoch_log) AS epochs,
       round((epoch_log -> -1 ->> 'loss')::numeric, 4) AS final_loss,
       round(train_seconds::numeric, 2) AS train_seconds,
       pg_size_pretty(length(encoder_onnx)::bigint) AS encoder_size,
       created_by, created_at,
       round((epoch_log -> -1 ->> 'images_per_second')::numeric) AS images_per_second,
       name || '_' || algorithm AS embedding_column
FROM @extschema@.models ORDER BY name;

CREATE FUNCTION @extschema@.import_model(
	"model_name" TEXT, /* & str */
	"onnx" bytea, /* & [u8] */
	"image_size" INT DEFAULT NULL, /* Option < i32 > */
	"resize" TEXT DEFAULT 'center_crop', /* & str */
	"channels" INT DEFAULT NULL, /* Option < i32 > */
	"channel_order" TEXT DEFAULT 'RGB', /* & str */
	"value_range" TEXT DEFAULT '0..1', /* & str */
	"mean" double precision[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < f64 > > > */
	"std" double precision[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < f64 > > > */
	"layout" TEXT DEFAULT 'NCHW', /* & str */
	"output_name" TEXT DEFAULT NULL, /* Option < & str > */
	"pooling" TEXT DEFAULT 'average', /* & str */
	"overwrite" bool DEFAULT false /* bool */
) RETURNS TABLE (
	"model_name" TEXT,  /* String */
	"embedding_dim" INT,  /* i32 */
	"image_size" INT,  /* i32 */
	"channels" INT,  /* i32 */
	"batch_size" INT,  /* Option < i32 > */
	"embedding_column" TEXT  /* String */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'import_model_bytes_wrapper';

CREATE FUNCTION @extschema@.import_model(
	"model_name" TEXT, /* & str */
	"path" TEXT, /* & str */
	"image_size" INT DEFAULT NULL, /* Option < i32 > */
	"resize" TEXT DEFAULT 'center_crop', /* & str */
	"channels" INT DEFAULT NULL, /* Option < i32 > */
	"channel_order" TEXT DEFAULT 'RGB', /* & str */
	"value_range" TEXT DEFAULT '0..1', /* & str */
	"mean" double precision[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < f64 > > > */
	"std" double precision[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < f64 > > > */
	"layout" TEXT DEFAULT 'NCHW', /* & str */
	"output_name" TEXT DEFAULT NULL, /* Option < & str > */
	"pooling" TEXT DEFAULT 'average', /* & str */
	"overwrite" bool DEFAULT false /* bool */
) RETURNS TABLE (
	"model_name" TEXT,  /* String */
	"embedding_dim" INT,  /* i32 */
	"image_size" INT,  /* i32 */
	"channels" INT,  /* i32 */
	"batch_size" INT,  /* Option < i32 > */
	"embedding_column" TEXT  /* String */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'import_model_path_wrapper';
-- end of import_model (issue 10) --------------------------------------------------
