-- image_search 0.2.0 -> 0.3.0
-- build_model gains architecture, pretrained (warm starts), max_seconds (a time budget),
-- lr_schedule and warmup; max_epochs defaults to about 8,000 images of training.
-- Models trained by 0.2.0 keep working: the catalog table is unchanged.
-- The distance, equality and inequality operators also live in pg_catalog, so they work
-- with any search_path; btree and hash operator classes for embedding (DISTINCT, GROUP BY,
-- UNION, joins, plain indexes).
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
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES);
CREATE OPERATOR pg_catalog.<> (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_ne, COMMUTATOR = OPERATOR(pg_catalog.<>), NEGATOR = OPERATOR(pg_catalog.=),
    RESTRICT = neqsel, JOIN = neqjoinsel);

CREATE FUNCTION @extschema@.embedding_cmp(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_cmp_wrapper';
CREATE FUNCTION @extschema@.embedding_lt(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_lt_wrapper';
CREATE FUNCTION @extschema@.embedding_le(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_le_wrapper';
CREATE FUNCTION @extschema@.embedding_gt(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_gt_wrapper';
CREATE FUNCTION @extschema@.embedding_ge(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS bool /* bool */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_ge_wrapper';
CREATE FUNCTION @extschema@.embedding_hash(
	"value" embedding /* Embedding */
) RETURNS INT /* i32 */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_hash_wrapper';

-- Unqualified names resolve in the extension schema, as in the install script.
CREATE OPERATOR < (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_lt,
    COMMUTATOR = >, NEGATOR = >=, RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR <= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_le,
    COMMUTATOR = >=, NEGATOR = >, RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR > (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_gt,
    COMMUTATOR = <, NEGATOR = <=, RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR >= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_ge,
    COMMUTATOR = <=, NEGATOR = <, RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR pg_catalog.< (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_lt,
    COMMUTATOR = OPERATOR(pg_catalog.>), NEGATOR = OPERATOR(pg_catalog.>=), RESTRICT = scalarltsel, JOIN = scalarltjoinsel);
CREATE OPERATOR pg_catalog.<= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_le,
    COMMUTATOR = OPERATOR(pg_catalog.>=), NEGATOR = OPERATOR(pg_catalog.>), RESTRICT = scalarlesel, JOIN = scalarlejoinsel);
CREATE OPERATOR pg_catalog.> (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_gt,
    COMMUTATOR = OPERATOR(pg_catalog.<), NEGATOR = OPERATOR(pg_catalog.<=), RESTRICT = scalargtsel, JOIN = scalargtjoinsel);
CREATE OPERATOR pg_catalog.>= (LEFTARG = embedding, RIGHTARG = embedding, FUNCTION = embedding_ge,
    COMMUTATOR = OPERATOR(pg_catalog.<=), NEGATOR = OPERATOR(pg_catalog.<), RESTRICT = scalargesel, JOIN = scalargejoinsel);
CREATE OPERATOR CLASS embedding_btree_ops DEFAULT FOR TYPE embedding USING btree AS
    OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 pg_catalog.=,
    OPERATOR 4 pg_catalog.>=, OPERATOR 5 pg_catalog.>, FUNCTION 1 embedding_cmp(embedding, embedding);
CREATE OPERATOR CLASS embedding_hash_ops DEFAULT FOR TYPE embedding USING hash AS
    OPERATOR 1 pg_catalog.=, FUNCTION 1 embedding_hash(embedding);
