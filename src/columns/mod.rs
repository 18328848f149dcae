//! Embeddings in users' tables: `convert` fills a model's column, `search`
//! ranks the rows of any query by similarity to query images.
pub mod convert;
pub mod keep_current;
pub mod row_identity;
pub mod search;
