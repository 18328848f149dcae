-- image_search 0.7.0 -> 0.8.0
\echo Use "ALTER EXTENSION image_search UPDATE TO '0.8.0'" to load this file. \quit

-- build_model: label_col (NULL = none): a column of the source query whose equal values
-- mark images that should embed close together; each training pair is then an image and
-- another image with its label (supervised contrastive training). Models built before
-- are unchanged. The 0.7.0 C symbol stays in the library for databases not yet updated.
DROP FUNCTION @extschema@.build_model(text, text, text, integer, integer, double precision, double precision,
    double precision, integer, integer, bigint, boolean, boolean, jsonb, boolean, text, text, double precision, text,
    double precision, boolean);
CREATE FUNCTION @extschema@.build_model(
	"model_name" TEXT,
	"source_query" TEXT,
	"image_col" TEXT DEFAULT 'image_path',
	"max_epochs" INT DEFAULT NULL,
	"batch_size" INT DEFAULT 32,
	"learning_rate" double precision DEFAULT 0.003,
	"temperature" double precision DEFAULT 0.1,
	"weight_decay" double precision DEFAULT 0.0001,
	"image_size" INT DEFAULT NULL,
	"channels" INT DEFAULT NULL,
	"seed" bigint DEFAULT 42,
	"flip" bool DEFAULT NULL,
	"color_jitter" bool DEFAULT NULL,
	"augment" jsonb DEFAULT NULL,
	"overwrite" bool DEFAULT false,
	"architecture" TEXT DEFAULT NULL,
	"pretrained" TEXT DEFAULT NULL,
	"max_seconds" double precision DEFAULT NULL,
	"lr_schedule" TEXT DEFAULT 'constant',
	"warmup" double precision DEFAULT 0.0,
	"gradient_descriptor" bool DEFAULT NULL,
	"label_col" TEXT DEFAULT NULL
) RETURNS TABLE (
	"model_name" TEXT,
	"epochs" INT,
	"final_loss" double precision,
	"seconds" double precision,
	"rows_used" bigint,
	"images_per_second" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'build_model_v5_wrapper';
COMMENT ON FUNCTION @extschema@.build_model(text, text, text, integer, integer, double precision, double precision,
    double precision, integer, integer, bigint, boolean, boolean, jsonb, boolean, text, text, double precision, text,
    double precision, boolean, text)
  IS 'trains a SimCLR image encoder on the images of a SELECT and stores it as a model (see README: SQL reference)';
