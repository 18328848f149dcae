-- Every object of the extension has a description for \df+, \do+, \dT+ and \dv+:
-- these queries list the ones that do not (none).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS image_search;
RESET client_min_messages;
SELECT p.oid::regprocedure AS function_without_comment
  FROM pg_proc p WHERE p.pronamespace = 'image_search'::regnamespace
   AND obj_description(p.oid, 'pg_proc') IS NULL ORDER BY 1;
SELECT o.oid::regoperator AS operator_without_comment
  FROM pg_operator o WHERE (o.oprleft = 'image_search.embedding'::regtype OR o.oprright = 'image_search.embedding'::regtype)
   AND obj_description(o.oid, 'pg_operator') IS NULL ORDER BY 1;
SELECT c.oid::regclass AS table_or_view_without_comment
  FROM pg_class c WHERE c.relnamespace = 'image_search'::regnamespace AND c.relkind IN ('r', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL ORDER BY 1;
SELECT opcname AS operator_class_without_comment
  FROM pg_opclass WHERE opcintype = 'image_search.embedding'::regtype
   AND obj_description(oid, 'pg_opclass') IS NULL ORDER BY 1;
-- Settings describe themselves in pg_settings (once the library is loaded).
SELECT vector_dims('[1]'::image_search.embedding) AS library_loaded;
SELECT name, short_desc <> '' AS described FROM pg_settings WHERE name LIKE 'image_search.%' ORDER BY 1;
-- What \df shows for the functions a user calls most.
SELECT p.proname, obj_description(p.oid, 'pg_proc') AS description
  FROM pg_proc p WHERE p.pronamespace = 'image_search'::regnamespace
   AND p.proname IN ('build_model', 'convert', 'keep_current', 'embed_image', 'search_image')
 ORDER BY 1, 2;
