-- image_search 0.6.0 -> 0.7.0
\echo Use "ALTER EXTENSION image_search UPDATE TO '0.7.0'" to load this file. \quit

-- combine_models: a model (algorithm 'concat') whose embedding concatenates other models'
-- embeddings, each unit length times its weight, for example a model trained here and an
-- imported pretrained encoder. It stores no encoder, only its parts (names, builds,
-- weights) in options; models stored before are unchanged.
CREATE FUNCTION @extschema@.combine_models(
	"model_name" TEXT,
	"models" TEXT[],
	"weights" double precision[] DEFAULT NULL,
	"overwrite" bool DEFAULT false
) RETURNS TABLE (
	"model_name" TEXT,
	"embedding_dim" INT,
	"embedding_column" TEXT
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'combine_models_wrapper';
COMMENT ON FUNCTION @extschema@.combine_models(text, text[], double precision[], boolean)
  IS 'stores a model whose embedding concatenates other models'' embeddings, each unit length times its weight (for example a model trained here and an imported pretrained encoder)';
