-- image_search 0.2.0 -> 0.3.0
-- build_model gains architecture, pretrained (warm starts), max_seconds (a time budget),
-- lr_schedule and warmup; max_epochs defaults to about 8,000 images of training.
-- Models trained by 0.2.0 keep working: the catalog table is unchanged.
-- The distance, equality and inequality operators also live in pg_catalog, so they work
-- with any search_path.
\echo Use "ALTER EXTENSION image_search UPDATE TO '0.3.0'" to load this file. \quit

DROP FUNCTION @extschema@.build_model(text, text, text, integer, integer, double precision, double precision,
                                      double precision, integer, integer, bigint, boolean, boolean, jsonb, boolean);
CREATE FUNCTION @extschema@.build_model(
	"model_name" TEXT, /* & str */
	"source_query" TEXT, /* & str */
	"image_col" TEXT DEFAULT 'image_path', /* & str */
	"max_epochs" INT DEFAULT NULL, /* Option < i32 > */
	"batch_size" INT DEFAULT 32, /* i32 */
	"learning_rate" double precision DEFAULT 0.003, /* f64 */
	"temperature" double precision DEFAULT 0.1, /* f64 */
	"weight_decay" double precision DEFAULT 0.0001, /* f64 */
	"image_size" INT DEFAULT NULL, /* Option < i32 > */
	"channels" INT DEFAULT NULL, /* Option < i32 > */
	"seed" bigint DEFAULT 42, /* i64 */
	"flip" bool DEFAULT NULL, /* Option < bool > */
	"color_jitter" bool DEFAULT NULL, /* Option < bool > */
	"augment" jsonb DEFAULT NULL, /* Option < JsonB > */
	"overwrite" bool DEFAULT false, /* bool */
	"architecture" TEXT DEFAULT NULL, /* Option < & str > */
	"pretrained" TEXT DEFAULT NULL, /* Option < & str > */
	"max_seconds" double precision DEFAULT NULL, /* Option < f64 > */
	"lr_schedule" TEXT DEFAULT 'constant', /* & str */
	"warmup" double precision DEFAULT 0.0 /* f64 */
) RETURNS TABLE (
	"model_name" TEXT,  /* String */
	"epochs" INT,  /* i32 */
	"final_loss" double precision,  /* f64 */
	"seconds" double precision,  /* f64 */
	"rows_used" bigint,  /* i64 */
	"images_per_second" double precision  /* f64 */
)
VOLATILE PARALLEL UNSAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'build_model_v3_wrapper';

CREATE OPERATOR pg_catalog.<=> (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.cosine_distance, COMMUTATOR = OPERATOR(pg_catalog.<=>));
CREATE OPERATOR pg_catalog.<-> (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.l2_distance, COMMUTATOR = OPERATOR(pg_catalog.<->));
CREATE OPERATOR pg_catalog.<#> (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.negative_inner_product, COMMUTATOR = OPERATOR(pg_catalog.<#>));
CREATE OPERATOR pg_catalog.= (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_eq, COMMUTATOR = OPERATOR(pg_catalog.=), NEGATOR = OPERATOR(pg_catalog.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR pg_catalog.<> (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_ne, COMMUTATOR = OPERATOR(pg_catalog.<>), NEGATOR = OPERATOR(pg_catalog.=),
    RESTRICT = neqsel, JOIN = neqjoinsel);
