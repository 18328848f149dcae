-- What \df+, \dT+, \do+ and \dv+ show for every user-facing object of image_search.
-- Runs last in a fresh install (extension_sql_file!, finalize) and, identically, at the
-- end of every upgrade script; the upgrade test compares both.

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
COMMENT ON FUNCTION build_model(text, text, text, integer, integer, double precision, double precision, double precision, integer, integer, bigint, boolean, boolean, jsonb, boolean, text, text, double precision, text, double precision, boolean, text, text, boolean)
  IS 'trains a SimCLR image encoder on the images of a SELECT and stores it as a model (see README: SQL reference)';
COMMENT ON FUNCTION drop_model(text, boolean) IS 'removes a model and its keep_current triggers';
COMMENT ON FUNCTION export_model(text) IS 'the model''s encoder as ONNX bytes (trained: input images [N,C,H,W] in [0,1], output embedding [N,dim], or labelled_embedding [N,dim] with label votes; imported: the file as imported)';
COMMENT ON VIEW model_list IS 'one row per model (trained or imported): architecture, image size, dimensions, epochs, final loss, training time, encoder size, the column convert adds';
COMMENT ON FUNCTION import_model(text, bytea, integer, text, integer, text, text, double precision[], double precision[], text, text, text, integer, double precision, boolean)
  IS 'stores an ONNX image encoder (bytes) as a model, with its preprocessing (image_size is the height; image_width for a non-square input; crop_fraction 0.875 for ImageNet''s resize 256, crop 224); validated and test-run before it is stored';
COMMENT ON FUNCTION import_model(text, text, integer, text, integer, text, text, double precision[], double precision[], text, text, text, integer, double precision, boolean)
  IS 'stores an ONNX image encoder read from a server file (same file rules as images) as a model, with its preprocessing (image_size is the height; image_width for a non-square input; crop_fraction 0.875 for ImageNet''s resize 256, crop 224)';
COMMENT ON FUNCTION combine_models(text, text[], double precision[], boolean)
  IS 'stores a model whose embedding concatenates other models'' embeddings, each unit length times its weight (for example a model trained here and an imported pretrained encoder)';
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
