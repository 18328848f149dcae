//! The image_search tutorial dialect: its statements as Rust values, and `parse`.
//! `lexer` cuts the statement into tokens with sqlparser's tokenizer (PostgreSQL
//! dialect) and scans quoted strings and raw queries on them; `grammar` holds the
//! statement rules.
//!
//! Pure Rust (no pgrx, no Postgres).  `image_search.run('<statement>')` hands the
//! statement text to [`parse`], which returns a [`Statement`] the caller maps onto
//! the SQL API.
//!
//! Grammar (keywords case-insensitive, whitespace and SQL comments free, optional
//! trailing `;`):
//!
//! ```text
//! COPY qualified_name [OPTIONS (opts)] FROM string [OPTIONS (opts)]      -- OPTIONS at most once
//! BUILD MODEL ident USING ident [OPTIONS (opts)] AS query
//! CONVERT USING ident [OPTIONS (opts)] AS query
//! SEARCH IMAGE IMAGES = (string | '(' string {, string} ')') USING ident AS query
//! PRINT IMAGE AS '(' (SEARCH IMAGE ... | query) ')'
//! PRINT IMAGE AS (SEARCH IMAGE ... | query)
//!
//! opts  := name = value {, name = value}        (may be empty)
//! value := integer | float | TRUE | FALSE | 'string' | "string" | bare_word
//! ```
//!
//! * Bare identifiers (letters, digits, `_`, `$`, non-ASCII) are folded to lower
//!   case (ASCII only, like Postgres with a UTF-8 database); double-quoted
//!   identifiers keep their case, `""` is an embedded quote. Identifiers are at
//!   most 63 bytes (Postgres would silently truncate; we reject instead).
//! * Strings use `'...'` or `"..."`, with the quote doubled to embed it. No
//!   backslash escapes. In COPY's FROM position a double-quoted token is a path.
//! * Option names are bare words folded to lower case; duplicates are an error.
//!   Bare-word option values are folded to lower case too (like identifiers);
//!   quote a value to keep its case.
//! * `query` is everything after the `AS`, returned as raw text with leading and
//!   trailing whitespace/comments and the trailing `;` removed. It is lexed (not
//!   parsed) to check that quotes, comments, dollar quotes and parentheses are
//!   balanced and that it contains no `;` other than at the very end — so it is
//!   always safe to wrap as `(<query>)`.
//! * For SEARCH IMAGE the query is split at its first top-level `ORDER BY`,
//!   `LIMIT`, `OFFSET` or `FETCH` (outside parentheses, quotes and comments; not
//!   after `.` or `AS`) into `source_query` and `order_limit` (possibly empty).
//! * Several images are given as a parenthesised list; a single string is always
//!   exactly one path (commas in it are not split).

use std::collections::HashSet;
use std::fmt;

/// A parsed tutorial statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `COPY table [OPTIONS(..)] FROM 'path' [OPTIONS(..)]`
    Copy { table: QualifiedName, path: String, options: Vec<(String, OptionValue)> },
    /// `BUILD MODEL model USING algorithm [OPTIONS(..)] AS query`
    /// (`algorithm` is folded to lower case when bare, e.g. `"simclr"`).
    BuildModel { model: String, algorithm: String, options: Vec<(String, OptionValue)>, source_query: String },
    /// `CONVERT USING model [OPTIONS(..)] AS query`
    Convert { model: String, options: Vec<(String, OptionValue)>, source_query: String },
    /// `SEARCH IMAGE images=... USING model AS query`; `order_limit` is the
    /// trailing top-level `ORDER BY ... / LIMIT ... / OFFSET ... / FETCH ...`
    /// text of the query (empty when absent), `source_query` the rest.
    SearchImage { images: Vec<String>, model: String, source_query: String, order_limit: String },
    /// `PRINT IMAGE AS (...)`; `inner` is `SearchImage` or `Query`.
    PrintImage { inner: Box<Statement> },
    /// A raw user query (only produced as the inner of `PrintImage`).
    Query(String),
}

/// `[schema.]name`, already case-folded / unquoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

/// A value in an `OPTIONS (...)` list.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

/// A parse failure. `position` is the byte offset in `statement` where parsing
/// stopped; `Display` shows the offending line with a caret under it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub message: String,
    /// Byte offset (0-based) into `statement`.
    pub position: usize,
    /// The full statement that was being parsed (for the caret display).
    pub statement: String,
}

impl ParseError {
    /// 1-based character position, as Postgres' `errposition()` expects.
    pub fn cursor_position(&self) -> usize {
        let pos = clamp_boundary(&self.statement, self.position);
        self.statement[..pos].chars().count() + 1
    }
}

fn clamp_boundary(s: &str, pos: usize) -> usize {
    let mut p = pos.min(s.len());
    while !s.is_char_boundary(p) {
        p -= 1;
    }
    p
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "syntax error at position {}: {}", self.position, self.message)?;
        let src = &self.statement;
        let pos = clamp_boundary(src, self.position);
        let line_start = src[..pos].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
        let line = src[line_start..line_end].trim_end_matches('\r');
        let before: Vec<char> = src[line_start..pos].chars().collect();
        let all: Vec<char> = line.chars().collect();
        // Window very long lines around the caret.
        const HALF: usize = 60;
        let col = before.len().min(all.len());
        let from = col.saturating_sub(HALF);
        let to = (col + HALF).min(all.len());
        let prefix = if from > 0 { "..." } else { "" };
        let suffix = if to < all.len() { "..." } else { "" };
        let shown: String = all[from..to].iter().map(|&c| if c.is_control() && c != '\t' { ' ' } else { c }).collect();
        let pad: String = prefix
            .chars()
            .map(|_| ' ')
            .chain(all[from..col].iter().map(|&c| if c == '\t' { '\t' } else { ' ' }))
            .collect();
        write!(f, "\n{prefix}{shown}{suffix}\n{pad}^")
    }
}

impl std::error::Error for ParseError {}

/// Parse one tutorial statement.
pub fn parse(statement: &str) -> Result<Statement, ParseError> {
    let lexed = lexer::Lexed::new(statement, 0);
    let mut p =
        Parser { lexed: &lexed, src: statement, b: statement.as_bytes(), pos: 0, end: statement.len(), top: true };
    p.parse_statement()
}

#[cfg(test)]
mod error_tests;
mod grammar;
mod lexer;
#[cfg(test)]
mod tests;

const MAX_IDENT_LEN: usize = 63;
const STATEMENTS: &str = "COPY, BUILD MODEL, CONVERT USING, SEARCH IMAGE or PRINT IMAGE";

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}
fn is_ident_char(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Whitespace or a comment.
    Space,
    Word,
    QuotedIdent,
    Str,
    Num,
    Param,
    LParen,
    RParen,
    Semi,
    Other(u8),
}

#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
    kind: Kind,
}

/// Result of lexing a raw query.
struct QueryScan {
    /// Start of the first significant token.
    start: usize,
    /// End of the last significant token before a top-level `;`.
    end: usize,
    /// (start of ORDER/LIMIT/OFFSET/FETCH, end of the token before it).
    split: Option<(usize, usize)>,
}

struct Parser<'a> {
    /// The statement's tokens, cut once by sqlparser.
    lexed: &'a lexer::Lexed,
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    /// Parsing never goes beyond this offset (the `)` of `PRINT IMAGE AS (...)`).
    end: usize,
    /// True for the whole statement, false inside `PRINT IMAGE AS (...)`.
    top: bool,
}
