-- image_search 0.4.0 -> 0.5.0
\echo Use "ALTER EXTENSION image_search UPDATE TO '0.5.0'" to load this file. \quit

-- import_model: crop_fraction (ImageNet's "resize 256, centre crop 224" is 0.875) and
-- non-square inputs (image_width; taken from the model when its input fixes it); the
-- result gains image_width. The 0.4.0 C symbols stay in the library for databases not
-- yet updated.
DROP FUNCTION @extschema@.import_model(text, bytea, integer, text, integer, text, text, double precision[],
    double precision[], text, text, text, boolean);
DROP FUNCTION @extschema@.import_model(text, text, integer, text, integer, text, text, double precision[],
    double precision[], text, text, text, boolean);
CREATE FUNCTION @extschema@.import_model(
	"model_name" TEXT,
	"onnx" bytea,
	"image_size" INT DEFAULT NULL,
	"resize" TEXT DEFAULT 'center_crop',
	"channels" INT DEFAULT NULL,
	"channel_order" TEXT DEFAULT 'RGB',
	"value_range" TEXT DEFAULT '0..1',
	"mean" double precision[] DEFAULT NULL,
	"std" double precision[] DEFAULT NULL,
	"layout" TEXT DEFAULT 'NCHW',
	"output_name" TEXT DEFAULT NULL,
	"pooling" TEXT DEFAULT 'average',
	"image_width" INT DEFAULT NULL,
	"crop_fraction" double precision DEFAULT 1.0,
	"overwrite" bool DEFAULT false
) RETURNS TABLE (
	"model_name" TEXT,
	"embedding_dim" INT,
	"image_size" INT,
	"image_width" INT,
	"channels" INT,
	"batch_size" INT,
	"embedding_column" TEXT
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'import_model_bytes_v2_wrapper';
CREATE FUNCTION @extschema@.import_model(
	"model_name" TEXT,
	"path" TEXT,
	"image_size" INT DEFAULT NULL,
	"resize" TEXT DEFAULT 'center_crop',
	"channels" INT DEFAULT NULL,
	"channel_order" TEXT DEFAULT 'RGB',
	"value_range" TEXT DEFAULT '0..1',
	"mean" double precision[] DEFAULT NULL,
	"std" double precision[] DEFAULT NULL,
	"layout" TEXT DEFAULT 'NCHW',
	"output_name" TEXT DEFAULT NULL,
	"pooling" TEXT DEFAULT 'average',
	"image_width" INT DEFAULT NULL,
	"crop_fraction" double precision DEFAULT 1.0,
	"overwrite" bool DEFAULT false
) RETURNS TABLE (
	"model_name" TEXT,
	"embedding_dim" INT,
	"image_size" INT,
	"image_width" INT,
	"channels" INT,
	"batch_size" INT,
	"embedding_column" TEXT
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'import_model_path_v2_wrapper';

-- COMMENTs of the objects above (src/comments.sql, as in a fresh install).
COMMENT ON FUNCTION import_model(text, bytea, integer, text, integer, text, text, double precision[], double precision[], text, text, text, integer, double precision, boolean)
  IS 'stores an ONNX image encoder (bytes) as a model, with its preprocessing (image_size is the height; image_width for a non-square input; crop_fraction 0.875 for ImageNet''s resize 256, crop 224); validated and test-run before it is stored';
COMMENT ON FUNCTION import_model(text, text, integer, text, integer, text, text, double precision[], double precision[], text, text, text, integer, double precision, boolean)
  IS 'stores an ONNX image encoder read from a server file (same file rules as images) as a model, with its preprocessing (image_size is the height; image_width for a non-square input; crop_fraction 0.875 for ImageNet''s resize 256, crop 224)';
