-- image_search 0.3.0 -> 0.4.0
\echo Use "ALTER EXTENSION image_search UPDATE TO '0.4.0'" to load this file. \quit

-- keep_current (issue 11): a model's column stays up to date for rows inserted or
-- re-imaged later, batched per statement by a row trigger and a statement trigger.
CREATE FUNCTION @extschema@.keep_current_row() RETURNS TRIGGER
LANGUAGE c AS 'MODULE_PATHNAME', 'keep_current_row_wrapper';
CREATE FUNCTION @extschema@.keep_current_statement() RETURNS TRIGGER
LANGUAGE c AS 'MODULE_PATHNAME', 'keep_current_statement_wrapper';
CREATE FUNCTION @extschema@.keep_current(
	"model_name" TEXT,
	"table_name" TEXT,
	"image_col" TEXT DEFAULT 'image_path',
	"skip_bad_rows" bool DEFAULT false
) RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'keep_current_wrapper';
CREATE FUNCTION @extschema@.stop_keeping_current(
	"model_name" TEXT,
	"table_name" TEXT
) RETURNS bool
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c AS 'MODULE_PATHNAME', 'stop_keeping_current_wrapper';

-- print_images draws shades of gray in plain characters unless asked for colour, so its
-- output reads in psql's default aligned format (colour escape codes show there as text).
CREATE OR REPLACE FUNCTION @extschema@.print_images(
	"source_query" TEXT,
	"image_col" TEXT DEFAULT 'image_path',
	"caption_col" TEXT DEFAULT NULL,
	"columns" INT DEFAULT 4,
	"cell" INT DEFAULT 28,
	"color" bool DEFAULT false
) RETURNS SETOF TEXT
VOLATILE
LANGUAGE c AS 'MODULE_PATHNAME', 'print_images_wrapper';

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

-- pgvector parity (issue 11 item 8)
-- The functions, operators, aggregate and casts pgvector has for `vector` and embedding
-- lacked: L1 distance and <+>, element-wise + - *, || (concatenation), subvector,
-- binary_quantize, sum(embedding), casts from integer[] and numeric[], and
-- array_to_embedding for every array type. Operators are created in the extension
-- schema and in pg_catalog, like the others since 0.3.0.

CREATE FUNCTION @extschema@.l1_distance(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS double precision /* f64 */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'l1_distance_wrapper';
CREATE FUNCTION @extschema@.embedding_add(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS embedding /* Embedding */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_add_wrapper';
CREATE FUNCTION @extschema@.embedding_sub(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS embedding /* Embedding */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_sub_wrapper';
CREATE FUNCTION @extschema@.embedding_mul(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS embedding /* Embedding */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_mul_wrapper';
CREATE FUNCTION @extschema@.embedding_concat(
	"a" embedding, /* Embedding */
	"b" embedding /* Embedding */
) RETURNS embedding /* Embedding */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_concat_wrapper';
CREATE FUNCTION @extschema@.subvector(
	"value" embedding, /* Embedding */
	"start" INT, /* i32 */
	"count" INT /* i32 */
) RETURNS embedding /* Embedding */
IMMUTABLE STRICT PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'embedding_subvector_wrapper';
CREATE FUNCTION @extschema@.binary_quantize(
	"value" embedding /* Embedding */
) RETURNS bit /* BitString */
IMMUTABLE STRICT PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'binary_quantize_embedding_wrapper';
CREATE FUNCTION @extschema@.array_to_embedding(
	"items" INT[], /* Array < i32 > */
	"typmod" INT, /* i32 */
	"_explicit" bool /* bool */
) RETURNS embedding /* Embedding */
IMMUTABLE STRICT PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'int_array_to_embedding_wrapper';
CREATE FUNCTION @extschema@.array_to_embedding(
	"items" NUMERIC[], /* Array < AnyNumeric > */
	"typmod" INT, /* i32 */
	"_explicit" bool /* bool */
) RETURNS embedding /* Embedding */
IMMUTABLE STRICT PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'numeric_array_to_embedding_wrapper';
CREATE FUNCTION @extschema@.array_to_embedding(
	"items" double precision[], /* Array < f64 > */
	"typmod" INT, /* i32 */
	"explicit" bool /* bool */
) RETURNS embedding /* Embedding */
IMMUTABLE STRICT PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'double_array_to_embedding_wrapper';

CREATE OPERATOR @extschema@.<+> (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.l1_distance, COMMUTATOR = OPERATOR(@extschema@.<+>));
CREATE OPERATOR pg_catalog.<+> (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.l1_distance, COMMUTATOR = OPERATOR(pg_catalog.<+>));
CREATE OPERATOR @extschema@.+ (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_add, COMMUTATOR = OPERATOR(@extschema@.+));
CREATE OPERATOR @extschema@.- (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_sub);
CREATE OPERATOR @extschema@.* (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_mul, COMMUTATOR = OPERATOR(@extschema@.*));
CREATE OPERATOR @extschema@.|| (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_concat);
CREATE OPERATOR pg_catalog.+ (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_add, COMMUTATOR = OPERATOR(pg_catalog.+));
CREATE OPERATOR pg_catalog.- (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_sub);
CREATE OPERATOR pg_catalog.* (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_mul, COMMUTATOR = OPERATOR(pg_catalog.*));
CREATE OPERATOR pg_catalog.|| (LEFTARG = @extschema@.embedding, RIGHTARG = @extschema@.embedding,
    FUNCTION = @extschema@.embedding_concat);

CREATE AGGREGATE @extschema@.sum(@extschema@.embedding) (
    SFUNC = @extschema@.embedding_add,
    STYPE = @extschema@.embedding,
    COMBINEFUNC = @extschema@.embedding_add,
    PARALLEL = SAFE
);

CREATE CAST (integer[] AS @extschema@.embedding)
    WITH FUNCTION @extschema@.array_to_embedding(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS @extschema@.embedding)
    WITH FUNCTION @extschema@.array_to_embedding(numeric[], integer, boolean) AS ASSIGNMENT;
-- end of pgvector parity (issue 11 item 8)

-- ann index access method (issue 9)
-- An approximate nearest-neighbour index for embedding: CREATE INDEX ... USING ann
-- (col embedding_cosine_ops | embedding_l2_ops | embedding_ip_ops) WITH (lists = n).
-- Operator strategies 1-3 are the pg_catalog operators (what ORDER BY col <=> q resolves
-- to with any search_path), 4-6 the same operators in the extension schema.
CREATE FUNCTION @extschema@.ann_handler(internal) RETURNS index_am_handler
    LANGUAGE c AS 'MODULE_PATHNAME', 'ann_handler';
CREATE ACCESS METHOD ann TYPE INDEX HANDLER @extschema@.ann_handler;
CREATE OPERATOR CLASS @extschema@.embedding_l2_ops FOR TYPE @extschema@.embedding USING ann AS
    OPERATOR 1 pg_catalog.<-> (@extschema@.embedding, @extschema@.embedding) FOR ORDER BY pg_catalog.float_ops,
    OPERATOR 4 @extschema@.<-> (@extschema@.embedding, @extschema@.embedding) FOR ORDER BY pg_catalog.float_ops;
CREATE OPERATOR CLASS @extschema@.embedding_ip_ops FOR TYPE @extschema@.embedding USING ann AS
    OPERATOR 2 pg_catalog.<#> (@extschema@.embedding, @extschema@.embedding) FOR ORDER BY pg_catalog.float_ops,
    OPERATOR 5 @extschema@.<#> (@extschema@.embedding, @extschema@.embedding) FOR ORDER BY pg_catalog.float_ops;
CREATE OPERATOR CLASS @extschema@.embedding_cosine_ops DEFAULT FOR TYPE @extschema@.embedding USING ann AS
    OPERATOR 3 pg_catalog.<=> (@extschema@.embedding, @extschema@.embedding) FOR ORDER BY pg_catalog.float_ops,
    OPERATOR 6 @extschema@.<=> (@extschema@.embedding, @extschema@.embedding) FOR ORDER BY pg_catalog.float_ops;
-- end of ann index access method (issue 9)

-- Every user-facing object's COMMENT (src/comments.sql, as in a fresh install).
-- The embedding type
COMMENT ON TYPE embedding IS 'float4 vector, byte-compatible with pgvector''s vector; text form [1,2,3], typmod = dimensions';
COMMENT ON FUNCTION embedding(embedding, integer, boolean) IS 'typmod cast: checks an embedding''s dimensions against embedding(n)';
COMMENT ON FUNCTION array_to_embedding(real[], integer, boolean) IS 'cast real[] -> embedding';
COMMENT ON FUNCTION float8_array_to_embedding(double precision[], integer, boolean) IS 'cast double precision[] -> embedding';
COMMENT ON FUNCTION embedding_to_float4_array(embedding) IS 'cast embedding -> real[]';
COMMENT ON FUNCTION embedding_to_float8_array(embedding) IS 'cast embedding -> double precision[]';
COMMENT ON FUNCTION embedding_in(cstring, oid, integer) IS 'internal: text input of embedding';
COMMENT ON FUNCTION embedding_out(embedding) IS 'internal: text output of embedding';
COMMENT ON FUNCTION embedding_recv(internal, oid, integer) IS 'internal: binary input of embedding (pgvector''s wire format)';
COMMENT ON FUNCTION embedding_send(embedding) IS 'internal: binary output of embedding (pgvector''s wire format)';
COMMENT ON FUNCTION embedding_typmod_in(cstring[]) IS 'internal: typmod input of embedding(n)';
COMMENT ON FUNCTION embedding_typmod_out(integer) IS 'internal: typmod output of embedding(n)';

-- Distances and vector functions
COMMENT ON FUNCTION cosine_distance(embedding, embedding) IS '1 - cosine similarity; the <=> operator';
COMMENT ON FUNCTION cosine_similarity(embedding, embedding) IS 'cosine of the angle between two embeddings (1 = same direction)';
COMMENT ON FUNCTION l2_distance(embedding, embedding) IS 'Euclidean distance; the <-> operator';
COMMENT ON FUNCTION inner_product(embedding, embedding) IS 'sum of element-wise products';
COMMENT ON FUNCTION negative_inner_product(embedding, embedding) IS 'minus the inner product; the <#> operator (smaller is more similar)';
COMMENT ON FUNCTION l2_normalize(embedding) IS 'the embedding scaled to length 1';
COMMENT ON FUNCTION vector_dims(embedding) IS 'number of dimensions';
COMMENT ON FUNCTION vector_norm(embedding) IS 'Euclidean length';
COMMENT ON AGGREGATE avg(embedding) IS 'element-wise mean of embeddings';
COMMENT ON AGGREGATE sum(embedding) IS 'element-wise sum of embeddings';
COMMENT ON FUNCTION l1_distance(embedding, embedding) IS 'taxicab (L1) distance: sum of absolute differences; the <+> operator';
COMMENT ON FUNCTION embedding_add(embedding, embedding) IS 'element-wise sum; the + operator';
COMMENT ON FUNCTION embedding_sub(embedding, embedding) IS 'element-wise difference; the - operator';
COMMENT ON FUNCTION embedding_mul(embedding, embedding) IS 'element-wise product; the * operator';
COMMENT ON FUNCTION embedding_concat(embedding, embedding) IS 'concatenation; the || operator';
COMMENT ON FUNCTION subvector(embedding, integer, integer) IS 'count elements from a 1-based start (clipped like substring)';
COMMENT ON FUNCTION binary_quantize(embedding) IS 'one bit per dimension, set where the value is positive';
COMMENT ON FUNCTION array_to_embedding(integer[], integer, boolean) IS 'cast integer[] -> embedding';
COMMENT ON FUNCTION array_to_embedding(numeric[], integer, boolean) IS 'cast numeric[] -> embedding';
COMMENT ON FUNCTION array_to_embedding(double precision[], integer, boolean) IS 'array_to_embedding for double precision[] (as pgvector''s array_to_vector)';
COMMENT ON FUNCTION embedding_accum(double precision[], embedding) IS 'internal: state function of avg(embedding)';
COMMENT ON FUNCTION embedding_combine(double precision[], double precision[]) IS 'internal: combine function of avg(embedding)';
COMMENT ON FUNCTION embedding_avg(double precision[]) IS 'internal: final function of avg(embedding)';

-- Operators and operator classes (the operators exist in image_search and in pg_catalog)
COMMENT ON OPERATOR image_search.<=> (embedding, embedding) IS 'cosine distance';
COMMENT ON OPERATOR pg_catalog.<=> (embedding, embedding) IS 'cosine distance';
COMMENT ON OPERATOR image_search.<-> (embedding, embedding) IS 'Euclidean (L2) distance';
COMMENT ON OPERATOR pg_catalog.<-> (embedding, embedding) IS 'Euclidean (L2) distance';
COMMENT ON OPERATOR image_search.<#> (embedding, embedding) IS 'negative inner product';
COMMENT ON OPERATOR pg_catalog.<#> (embedding, embedding) IS 'negative inner product';
COMMENT ON OPERATOR image_search.<+> (embedding, embedding) IS 'taxicab (L1) distance';
COMMENT ON OPERATOR pg_catalog.<+> (embedding, embedding) IS 'taxicab (L1) distance';
COMMENT ON OPERATOR image_search.+ (embedding, embedding) IS 'element-wise sum';
COMMENT ON OPERATOR pg_catalog.+ (embedding, embedding) IS 'element-wise sum';
COMMENT ON OPERATOR image_search.- (embedding, embedding) IS 'element-wise difference';
COMMENT ON OPERATOR pg_catalog.- (embedding, embedding) IS 'element-wise difference';
COMMENT ON OPERATOR image_search.* (embedding, embedding) IS 'element-wise product';
COMMENT ON OPERATOR pg_catalog.* (embedding, embedding) IS 'element-wise product';
COMMENT ON OPERATOR image_search.|| (embedding, embedding) IS 'concatenation';
COMMENT ON OPERATOR pg_catalog.|| (embedding, embedding) IS 'concatenation';
COMMENT ON OPERATOR image_search.= (embedding, embedding) IS 'equal';
COMMENT ON OPERATOR pg_catalog.= (embedding, embedding) IS 'equal';
COMMENT ON OPERATOR image_search.<> (embedding, embedding) IS 'not equal';
COMMENT ON OPERATOR pg_catalog.<> (embedding, embedding) IS 'not equal';
COMMENT ON OPERATOR image_search.< (embedding, embedding) IS 'less than (element by element, then length, as pgvector)';
COMMENT ON OPERATOR pg_catalog.< (embedding, embedding) IS 'less than (element by element, then length, as pgvector)';
COMMENT ON OPERATOR image_search.<= (embedding, embedding) IS 'less than or equal';
COMMENT ON OPERATOR pg_catalog.<= (embedding, embedding) IS 'less than or equal';
COMMENT ON OPERATOR image_search.> (embedding, embedding) IS 'greater than';
COMMENT ON OPERATOR pg_catalog.> (embedding, embedding) IS 'greater than';
COMMENT ON OPERATOR image_search.>= (embedding, embedding) IS 'greater than or equal';
COMMENT ON OPERATOR pg_catalog.>= (embedding, embedding) IS 'greater than or equal';
COMMENT ON FUNCTION embedding_eq(embedding, embedding) IS 'implementation of =';
COMMENT ON FUNCTION embedding_ne(embedding, embedding) IS 'implementation of <>';
COMMENT ON FUNCTION embedding_lt(embedding, embedding) IS 'implementation of <';
COMMENT ON FUNCTION embedding_le(embedding, embedding) IS 'implementation of <=';
COMMENT ON FUNCTION embedding_gt(embedding, embedding) IS 'implementation of >';
COMMENT ON FUNCTION embedding_ge(embedding, embedding) IS 'implementation of >=';
COMMENT ON FUNCTION embedding_cmp(embedding, embedding) IS 'btree comparison: element by element, then length (pgvector''s order)';
COMMENT ON FUNCTION embedding_hash(embedding) IS 'hash for hash joins and hash indexes (-0 and 0 hash alike)';
COMMENT ON OPERATOR CLASS embedding_btree_ops USING btree IS 'default btree operator class: ORDER BY, DISTINCT, merge joins, plain indexes';
COMMENT ON OPERATOR CLASS embedding_hash_ops USING hash IS 'default hash operator class: GROUP BY, UNION, hash joins';

-- Models
COMMENT ON FUNCTION build_model(text, text, text, integer, integer, double precision, double precision, double precision, integer, integer, bigint, boolean, boolean, jsonb, boolean, text, text, double precision, text, double precision)
  IS 'trains a SimCLR image encoder on the images of a SELECT and stores it as a model (see README: SQL reference)';
COMMENT ON FUNCTION drop_model(text, boolean) IS 'removes a model and its keep_current triggers';
COMMENT ON FUNCTION export_model(text) IS 'the model''s encoder as ONNX bytes (trained: input images [N,C,H,W] in [0,1], output embedding [N,dim]; imported: the file as imported)';
COMMENT ON VIEW model_list IS 'one row per model (trained or imported): architecture, image size, dimensions, epochs, final loss, training time, encoder size, the column convert adds';
COMMENT ON FUNCTION import_model(text, bytea, integer, text, integer, text, text, double precision[], double precision[], text, text, text, boolean)
  IS 'stores an ONNX image encoder (bytes) as a model, with its preprocessing; validated and test-run before it is stored';
COMMENT ON FUNCTION import_model(text, text, integer, text, integer, text, text, double precision[], double precision[], text, text, text, boolean)
  IS 'stores an ONNX image encoder read from a server file (same file rules as images) as a model, with its preprocessing';
COMMENT ON FUNCTION encoder_runs() IS 'how many encoder batches this session has run (shows that searches embed their query once)';
COMMENT ON FUNCTION onnxruntime_info() IS 'the ONNX Runtime library in use: path, version, execution providers';

-- Embeddings in tables
COMMENT ON FUNCTION convert(text, text, text, boolean, boolean) IS 'adds column <model>_<algorithm> (e.g. my_model_simclr) to a table and stores every row''s embedding; returns rows embedded';
COMMENT ON FUNCTION keep_current(text, text, text, boolean) IS 'keeps a model''s column up to date for rows inserted or re-imaged later (statement-batched triggers); returns rows embedded now';
COMMENT ON FUNCTION stop_keeping_current(text, text) IS 'removes keep_current''s triggers from a table; the column stays';
COMMENT ON FUNCTION keep_current_row() IS 'internal: row trigger of keep_current (notes changed rows)';
COMMENT ON FUNCTION keep_current_statement() IS 'internal: statement trigger of keep_current (embeds the noted rows)';
COMMENT ON FUNCTION embed_image(text, text) IS 'the embedding of one image file (server path, read with the caller''s file privileges)';
COMMENT ON FUNCTION embed_image(text, bytea) IS 'the embedding of one image given as bytes';
COMMENT ON FUNCTION search_image(text, text, text[], text) IS 'rows of a SELECT with their cosine similarity to query images, as JSON (the SEARCH IMAGE statement)';

-- The tutorial
COMMENT ON FUNCTION load_csv(text, text, boolean) IS 'creates a table from a CSV file''s header and loads the file (the tutorial''s COPY ... OPTIONS(overwrite=True))';
COMMENT ON FUNCTION run(text) IS 'runs one of the tutorial''s statements as written (COPY, BUILD MODEL, CONVERT, SEARCH IMAGE, PRINT IMAGE)';
COMMENT ON FUNCTION print_images(text, text, text, integer, integer, boolean) IS 'the images of a query as a captioned text grid for psql (gray shades; color => true for 24-bit colour)';
COMMENT ON FUNCTION contact_sheet(text, text, text, integer, integer) IS 'the images of a query as a captioned PNG contact sheet (bytea)';

-- ann index access method (issue 9)
COMMENT ON FUNCTION ann_handler(internal) IS 'internal: handler of the ann index access method';
COMMENT ON ACCESS METHOD ann IS 'approximate nearest-neighbour index for embedding (IVF: k-means lists of exact vectors); option lists, setting image_search.ann_probes';
COMMENT ON OPERATOR CLASS embedding_cosine_ops USING ann IS 'ann index for ORDER BY embedding <=> q (cosine distance); the default';
COMMENT ON OPERATOR CLASS embedding_l2_ops USING ann IS 'ann index for ORDER BY embedding <-> q (Euclidean distance)';
COMMENT ON OPERATOR CLASS embedding_ip_ops USING ann IS 'ann index for ORDER BY embedding <#> q (negative inner product)';
