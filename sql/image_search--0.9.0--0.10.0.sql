-- image_search 0.9.0 -> 0.10.0
\echo Use "ALTER EXTENSION image_search UPDATE TO '0.10.0'" to load this file. \quit

-- build_model: label_votes (NULL = on with label_col): a labelled model's embedding ends
-- with the label shares of the image's 20 most similar training images (one dimension per
-- label). Models built before keep their stored encoders. The 0.9.0 C symbol stays in the
-- library for databases not yet updated.
DROP FUNCTION @extschema@.build_model(text, text, text, integer, integer, double precision, double precision,
    double precision, integer, integer, bigint, boolean, boolean, jsonb, boolean, text, text, double precision, text,
    double precision, boolean, text, text);
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
	"label_col" TEXT DEFAULT NULL,
	"readout" TEXT DEFAULT NULL,
	"label_votes" bool DEFAULT NULL
) RETURNS TABLE (
	"model_name" TEXT,
	"epochs" INT,
	"final_loss" double precision,
	"seconds" double precision,
	"rows_used" bigint,
	"images_per_second" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'build_model_v7_wrapper';
COMMENT ON FUNCTION @extschema@.build_model(text, text, text, integer, integer, double precision, double precision,
    double precision, integer, integer, bigint, boolean, boolean, jsonb, boolean, text, text, double precision, text,
    double precision, boolean, text, text, boolean)
  IS 'trains a SimCLR image encoder on the images of a SELECT and stores it as a model (see README: SQL reference)';
COMMENT ON FUNCTION @extschema@.export_model(text) IS 'the model''s encoder as ONNX bytes (trained: input images [N,C,H,W] in [0,1], output embedding [N,dim], or labelled_embedding [N,dim] with label votes; imported: the file as imported)';
