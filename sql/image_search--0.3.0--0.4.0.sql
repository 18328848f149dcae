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
