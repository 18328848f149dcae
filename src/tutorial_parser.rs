//! Parser for the statements of the image_search tutorial dialect.
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
    let mut p = Parser { src: statement, b: statement.as_bytes(), pos: 0, end: statement.len(), top: true };
    p.parse_statement()
}

const MAX_IDENT_LEN: usize = 63;
const STATEMENTS: &str = "COPY, BUILD MODEL, CONVERT USING, SEARCH IMAGE or PRINT IMAGE";

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}
fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}
fn is_ident_char(c: u8) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == b'$'
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
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
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    /// Parsing never goes beyond this offset (the `)` of `PRINT IMAGE AS (...)`).
    end: usize,
    /// True for the whole statement, false inside `PRINT IMAGE AS (...)`.
    top: bool,
}

impl<'a> Parser<'a> {
    // ---------------------------------------------------------------- errors

    fn err_at(&self, position: usize, message: impl Into<String>) -> ParseError {
        ParseError { message: message.into(), position, statement: self.src.to_string() }
    }

    /// Short description of the token at `pos` for "found ..." messages.
    fn describe_at(&self, pos: usize) -> String {
        let b = self.b;
        if pos >= b.len() || !self.src.is_char_boundary(pos) {
            return "end of input".to_string();
        }
        let c = b[pos];
        let mut e = pos + 1;
        if is_ident_start(c) || c.is_ascii_digit() {
            while e < b.len() && (is_ident_char(b[e]) || b[e] == b'.' && c.is_ascii_digit()) {
                e += 1;
            }
        } else if c == b'\'' || c == b'"' {
            while e < b.len() && b[e] != b'\n' {
                if b[e] == c {
                    if e + 1 < b.len() && b[e + 1] == c {
                        e += 2;
                        continue;
                    }
                    e += 1;
                    break;
                }
                e += 1;
            }
        } else {
            while e < b.len() && !self.src.is_char_boundary(e) {
                e += 1;
            }
        }
        let text = &self.src[pos..clamp_boundary(self.src, e)];
        let mut shown: String = text.chars().take(40).map(|c| if c.is_control() { ' ' } else { c }).collect();
        if shown.len() < text.len() {
            shown.push_str("...");
        }
        format!("\"{shown}\"")
    }

    fn expected(&self, what: &str) -> ParseError {
        self.err_at(self.pos, format!("expected {what}, found {}", self.describe_at(self.pos)))
    }

    // ---------------------------------------------------------------- lexing

    /// Skip whitespace and comments starting at `i`; returns the new offset.
    fn skip_ws_from(&self, mut i: usize) -> Result<usize, ParseError> {
        let b = self.b;
        while i < self.end {
            let c = b[i];
            if is_ws(c) {
                i += 1;
            } else if c == b'-' && i + 1 < self.end && b[i + 1] == b'-' {
                while i < self.end && b[i] != b'\n' {
                    i += 1;
                }
            } else if c == b'/' && i + 1 < self.end && b[i + 1] == b'*' {
                let start = i;
                let mut depth = 0usize;
                loop {
                    if i + 1 >= self.end {
                        return Err(self.err_at(start, "unterminated /* comment"));
                    }
                    if b[i] == b'/' && b[i + 1] == b'*' {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b[i + 1] == b'/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            } else {
                break;
            }
        }
        Ok(i)
    }

    fn skip_ws(&mut self) -> Result<(), ParseError> {
        self.pos = self.skip_ws_from(self.pos)?;
        Ok(())
    }

    /// End offset of a quoted token starting at `i` (which holds the quote).
    fn scan_quoted(&self, i: usize, q: u8, backslash: bool) -> Result<usize, ParseError> {
        let b = self.b;
        let mut j = i + 1;
        while j < self.end {
            if backslash && b[j] == b'\\' {
                j += 2;
                continue;
            }
            if b[j] == q {
                if j + 1 < self.end && b[j + 1] == q {
                    j += 2;
                    continue;
                }
                return Ok(j + 1);
            }
            j += 1;
        }
        Err(self.err_at(i, if q == b'"' { "unterminated quoted identifier" } else { "unterminated quoted string" }))
    }

    /// Next SQL token at or after `i` (skipping whitespace/comments), or None at `end`.
    fn next_token(&self, i: usize) -> Result<Option<Token>, ParseError> {
        let b = self.b;
        let start = self.skip_ws_from(i)?;
        if start >= self.end {
            return Ok(None);
        }
        let c = b[start];
        let mut j = start + 1;
        let kind = match c {
            b'\'' => {
                j = self.scan_quoted(start, b'\'', false)?;
                Kind::Str
            }
            b'"' => {
                j = self.scan_quoted(start, b'"', false)?;
                Kind::QuotedIdent
            }
            b'$' => {
                // $tag$ ... $tag$ (tag optional), or $1 parameter.
                let mut k = start + 1;
                if k < self.end && is_ident_start(b[k]) {
                    while k < self.end && (is_ident_start(b[k]) || b[k].is_ascii_digit()) {
                        k += 1;
                    }
                }
                if k < self.end && b[k] == b'$' {
                    let delim = &b[start..=k];
                    let body = k + 1;
                    match b[body..self.end].windows(delim.len()).position(|w| w == delim) {
                        Some(off) => {
                            j = body + off + delim.len();
                            Kind::Str
                        }
                        None => return Err(self.err_at(start, "unterminated dollar-quoted string")),
                    }
                } else if k == start + 1 && k < self.end && b[k].is_ascii_digit() {
                    while j < self.end && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    Kind::Param
                } else {
                    Kind::Other(b'$')
                }
            }
            b'(' => Kind::LParen,
            b')' => Kind::RParen,
            b';' => Kind::Semi,
            c if is_ident_start(c) => {
                while j < self.end && is_ident_char(b[j]) {
                    j += 1;
                }
                if j - start == 1 && (c == b'e' || c == b'E') && j < self.end && b[j] == b'\'' {
                    // E'...' string with backslash escapes.
                    j = self.scan_quoted(j, b'\'', true)?;
                    Kind::Str
                } else {
                    Kind::Word
                }
            }
            c if c.is_ascii_digit() || (c == b'.' && j < self.end && b[j].is_ascii_digit()) => {
                while j < self.end && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                    j += 1;
                }
                Kind::Num
            }
            c => Kind::Other(c),
        };
        Ok(Some(Token { start, end: j, kind }))
    }

    /// Lex the raw query from `self.pos` to `self.end`. Consumes everything.
    fn scan_query(&mut self, want_split: bool) -> Result<QueryScan, ParseError> {
        let mut i = self.pos;
        let mut first: Option<usize> = None;
        let mut last_end = self.pos;
        let mut open: Vec<usize> = Vec::new();
        let mut prev: Option<Token> = None;
        let mut pending_order: Option<(usize, usize)> = None;
        let mut split: Option<(usize, usize)> = None;
        let mut stop = self.end;
        while let Some(tok) = self.next_token(i)? {
            i = tok.end;
            match tok.kind {
                Kind::LParen => open.push(tok.start),
                Kind::RParen => {
                    let Some(_) = open.pop() else {
                        return Err(self.err_at(tok.start, "unbalanced \")\" in query"));
                    };
                }
                Kind::Semi => {
                    if !self.top || !open.is_empty() {
                        return Err(self.err_at(tok.start, "\";\" is only allowed at the end of the statement"));
                    }
                    // Only further semicolons (and whitespace/comments) may follow.
                    let mut k = tok.end;
                    while let Some(t) = self.next_token(k)? {
                        if t.kind != Kind::Semi {
                            return Err(self.err_at(
                                t.start,
                                format!("unexpected {} after end of statement", self.describe_at(t.start)),
                            ));
                        }
                        k = t.end;
                    }
                    stop = tok.start;
                    break;
                }
                _ => {}
            }
            if want_split && split.is_none() && open.is_empty() {
                let word = (tok.kind == Kind::Word).then(|| self.src[tok.start..tok.end].to_ascii_lowercase());
                if let (Some(p), Some("by")) = (pending_order.take(), word.as_deref()) {
                    split = Some(p);
                }
                let after_dot_or_as = match prev {
                    Some(Token { kind: Kind::Other(b'.'), .. }) => true,
                    Some(t @ Token { kind: Kind::Word, .. }) => self.src[t.start..t.end].eq_ignore_ascii_case("as"),
                    _ => false,
                };
                if split.is_none() && !after_dot_or_as {
                    match word.as_deref() {
                        Some("order") => pending_order = Some((tok.start, last_end)),
                        Some("limit" | "offset" | "fetch") => split = Some((tok.start, last_end)),
                        _ => {}
                    }
                }
            } else {
                pending_order = None;
            }
            first.get_or_insert(tok.start);
            last_end = tok.end;
            prev = Some(tok);
        }
        if let Some(&p) = open.last() {
            return Err(self.err_at(p, "unbalanced \"(\" in query"));
        }
        self.pos = self.end;
        match first {
            None => Err(self.err_at(stop, format!("expected a query after AS, found {}", self.describe_at(stop)))),
            Some(start) => Ok(QueryScan { start, end: last_end, split }),
        }
    }

    // ------------------------------------------------------- grammar pieces

    /// Bare word at the current position (after whitespace), not consumed.
    fn peek_word(&mut self) -> Result<Option<&'a str>, ParseError> {
        self.skip_ws()?;
        let b = self.b;
        if self.pos < self.end && is_ident_start(b[self.pos]) {
            let mut e = self.pos + 1;
            while e < self.end && is_ident_char(b[e]) {
                e += 1;
            }
            Ok(Some(&self.src[self.pos..e]))
        } else {
            Ok(None)
        }
    }

    fn accept_keyword(&mut self, kw: &str) -> Result<bool, ParseError> {
        match self.peek_word()? {
            Some(w) if w.eq_ignore_ascii_case(kw) => {
                self.pos += w.len();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.accept_keyword(kw)? {
            Ok(())
        } else {
            Err(self.expected(&kw.to_ascii_uppercase()))
        }
    }

    fn accept_char(&mut self, c: u8) -> Result<bool, ParseError> {
        self.skip_ws()?;
        if self.pos < self.end && self.b[self.pos] == c {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect_char(&mut self, c: u8) -> Result<(), ParseError> {
        if self.accept_char(c)? {
            Ok(())
        } else {
            Err(self.expected(&format!("\"{}\"", c as char)))
        }
    }

    /// Content of a `'...'` / `"..."` token at `self.pos` (quote doubled = literal quote).
    fn read_quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let q = self.b[start];
        let end = self.scan_quoted(start, q, false)?;
        let doubled = [q as char, q as char].iter().collect::<String>();
        let text = self.src[start + 1..end - 1].replace(&doubled, &(q as char).to_string());
        if text.contains('\0') {
            return Err(self.err_at(start, "NUL character not allowed"));
        }
        self.pos = end;
        Ok(text)
    }

    /// Bare (folded) or double-quoted identifier.
    fn parse_ident(&mut self, what: &str) -> Result<String, ParseError> {
        self.skip_ws()?;
        let start = self.pos;
        let name = if start < self.end && self.b[start] == b'"' {
            let s = self.read_quoted()?;
            if s.is_empty() {
                return Err(self.err_at(start, "zero-length delimited identifier"));
            }
            s
        } else if let Some(w) = self.peek_word()? {
            self.pos += w.len();
            w.to_ascii_lowercase()
        } else {
            return Err(self.expected(what));
        };
        if name.len() > MAX_IDENT_LEN {
            return Err(self.err_at(start, format!("identifier is too long (maximum is {MAX_IDENT_LEN} bytes)")));
        }
        Ok(name)
    }

    fn parse_qualified_name(&mut self) -> Result<QualifiedName, ParseError> {
        let first = self.parse_ident("table name")?;
        if !self.accept_char(b'.')? {
            return Ok(QualifiedName { schema: None, name: first });
        }
        let name = self.parse_ident("table name after \".\"")?;
        self.skip_ws()?;
        if self.pos < self.end && self.b[self.pos] == b'.' {
            return Err(self.err_at(self.pos, "improper qualified name (too many dotted names)"));
        }
        Ok(QualifiedName { schema: Some(first), name })
    }

    /// `'...'` or `"..."` string; must be non-empty.
    fn parse_string(&mut self, what: &str) -> Result<String, ParseError> {
        self.skip_ws()?;
        let start = self.pos;
        if start >= self.end || !matches!(self.b[start], b'\'' | b'"') {
            return Err(self.expected(what));
        }
        let s = self.read_quoted()?;
        if s.is_empty() {
            return Err(self.err_at(start, format!("{what} must not be empty")));
        }
        Ok(s)
    }

    /// `( name = value, ... )` — the OPTIONS keyword is already consumed.
    fn parse_options(&mut self) -> Result<Vec<(String, OptionValue)>, ParseError> {
        self.expect_char(b'(')?;
        let mut out: Vec<(String, OptionValue)> = Vec::new();
        let mut seen = HashSet::new();
        if self.accept_char(b')')? {
            return Ok(out);
        }
        loop {
            self.skip_ws()?;
            let name_pos = self.pos;
            let name = match self.peek_word()? {
                Some(w) => {
                    self.pos += w.len();
                    w.to_ascii_lowercase()
                }
                None => return Err(self.expected("option name")),
            };
            if !seen.insert(name.clone()) {
                return Err(self.err_at(name_pos, format!("option \"{name}\" specified more than once")));
            }
            self.expect_char(b'=')?;
            let value = self.parse_option_value()?;
            out.push((name, value));
            if self.accept_char(b')')? {
                return Ok(out);
            }
            if !self.accept_char(b',')? {
                return Err(self.expected("\",\" or \")\""));
            }
        }
    }

    fn parse_option_value(&mut self) -> Result<OptionValue, ParseError> {
        self.skip_ws()?;
        let b = self.b;
        let start = self.pos;
        if start >= self.end {
            return Err(self.expected("option value"));
        }
        let c = b[start];
        if c == b'\'' || c == b'"' {
            return Ok(OptionValue::Text(self.read_quoted()?));
        }
        let at_digit = |i: usize| i < self.end && b[i].is_ascii_digit();
        let num_start = if c == b'+' || c == b'-' { start + 1 } else { start };
        if at_digit(num_start) || (num_start < self.end && b[num_start] == b'.' && at_digit(num_start + 1)) {
            let mut i = num_start;
            let mut is_float = false;
            while at_digit(i) {
                i += 1;
            }
            if i < self.end && b[i] == b'.' {
                is_float = true;
                i += 1;
                while at_digit(i) {
                    i += 1;
                }
            }
            if i < self.end && (b[i] == b'e' || b[i] == b'E') {
                let mut k = i + 1;
                if k < self.end && (b[k] == b'+' || b[k] == b'-') {
                    k += 1;
                }
                if at_digit(k) {
                    is_float = true;
                    i = k;
                    while at_digit(i) {
                        i += 1;
                    }
                }
            }
            if i < self.end && (is_ident_char(b[i]) || b[i] == b'.') {
                return Err(self.err_at(start, format!("invalid number {}", self.describe_at(start))));
            }
            let text = &self.src[start..i];
            let value = if is_float {
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() => OptionValue::Float(f),
                    _ => return Err(self.err_at(start, format!("number \"{text}\" is out of range"))),
                }
            } else {
                match text.parse::<i64>() {
                    Ok(n) => OptionValue::Int(n),
                    Err(_) => return Err(self.err_at(start, format!("integer \"{text}\" is out of range"))),
                }
            };
            self.pos = i;
            return Ok(value);
        }
        match self.peek_word()? {
            Some(w) => {
                self.pos += w.len();
                Ok(match w.to_ascii_lowercase().as_str() {
                    "true" => OptionValue::Bool(true),
                    "false" => OptionValue::Bool(false),
                    other => OptionValue::Text(other.to_string()),
                })
            }
            None => Err(self.expected("option value")),
        }
    }

    /// After the statement: only whitespace/comments and (at top level) `;`.
    fn expect_end(&mut self) -> Result<(), ParseError> {
        self.skip_ws()?;
        if self.top {
            while self.accept_char(b';')? {}
        }
        if self.pos < self.end {
            return Err(
                self.err_at(self.pos, format!("unexpected {} after end of statement", self.describe_at(self.pos)))
            );
        }
        Ok(())
    }

    fn parse_query(&mut self) -> Result<String, ParseError> {
        let q = self.scan_query(false)?;
        Ok(self.src[q.start..q.end].to_string())
    }

    // ------------------------------------------------------------ statements

    fn parse_statement(&mut self) -> Result<Statement, ParseError> {
        let word = self.peek_word()?;
        let Some(word) = word else {
            if self.pos >= self.end && self.top {
                return Err(self.err_at(self.pos, "empty statement"));
            }
            return Err(self.expected(STATEMENTS));
        };
        match word.to_ascii_lowercase().as_str() {
            "copy" => {
                self.pos += word.len();
                self.parse_copy()
            }
            "build" => {
                self.pos += word.len();
                self.expect_keyword("model")?;
                let model = self.parse_ident("model name")?;
                self.expect_keyword("using")?;
                let algorithm = self.parse_ident("algorithm name")?;
                let options = if self.accept_keyword("options")? { self.parse_options()? } else { Vec::new() };
                self.expect_as("OPTIONS or AS")?;
                let source_query = self.parse_query()?;
                Ok(Statement::BuildModel { model, algorithm, options, source_query })
            }
            "convert" => {
                self.pos += word.len();
                self.expect_keyword("using")?;
                let model = self.parse_ident("model name")?;
                let options = if self.accept_keyword("options")? { self.parse_options()? } else { Vec::new() };
                self.expect_as("OPTIONS or AS")?;
                let source_query = self.parse_query()?;
                Ok(Statement::Convert { model, options, source_query })
            }
            "search" => {
                self.pos += word.len();
                self.parse_search()
            }
            "print" => {
                self.pos += word.len();
                self.parse_print()
            }
            _ => Err(self.expected(STATEMENTS)),
        }
    }

    fn expect_as(&mut self, what: &str) -> Result<(), ParseError> {
        if self.accept_keyword("as")? {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn parse_copy(&mut self) -> Result<Statement, ParseError> {
        let table = self.parse_qualified_name()?;
        let mut options = None;
        if self.accept_keyword("options")? {
            options = Some(self.parse_options()?);
        }
        if !self.accept_keyword("from")? {
            return Err(self.expected(if options.is_some() { "FROM" } else { "OPTIONS or FROM" }));
        }
        let path = self.parse_string("quoted file path")?;
        let kw_pos = self.skip_ws_from(self.pos)?;
        if self.accept_keyword("options")? {
            if options.is_some() {
                return Err(self.err_at(kw_pos, "OPTIONS specified more than once"));
            }
            options = Some(self.parse_options()?);
        }
        self.expect_end()?;
        Ok(Statement::Copy { table, path, options: options.unwrap_or_default() })
    }

    fn parse_search(&mut self) -> Result<Statement, ParseError> {
        self.expect_keyword("image")?;
        self.expect_keyword("images")?;
        self.expect_char(b'=')?;
        let mut images = Vec::new();
        if self.accept_char(b'(')? {
            loop {
                images.push(self.parse_string("quoted image path")?);
                if self.accept_char(b')')? {
                    break;
                }
                if !self.accept_char(b',')? {
                    return Err(self.expected("\",\" or \")\""));
                }
            }
        } else {
            images.push(self.parse_string("quoted image path or \"(\"")?);
        }
        self.expect_keyword("using")?;
        let model = self.parse_ident("model name")?;
        self.expect_as("AS")?;
        let q = self.scan_query(true)?;
        let (source_query, order_limit) = match q.split {
            None => (self.src[q.start..q.end].to_string(), String::new()),
            Some((at, before_end)) => {
                if at == q.start {
                    return Err(self.err_at(at, format!("expected a query before {}", self.describe_at(at))));
                }
                (self.src[q.start..before_end].to_string(), self.src[at..q.end].to_string())
            }
        };
        Ok(Statement::SearchImage { images, model, source_query, order_limit })
    }

    fn parse_print(&mut self) -> Result<Statement, ParseError> {
        self.expect_keyword("image")?;
        self.expect_as("AS")?;
        self.skip_ws()?;
        let body_start = self.pos;
        // Parenthesised form whose ")" ends the statement: parse the inside.
        if self.pos < self.end && self.b[self.pos] == b'(' {
            let close = self.matching_paren(self.pos)?;
            let after = self.skip_ws_from(close + 1)?;
            let rest_is_end = {
                let mut k = after;
                while k < self.end && self.top && self.b[k] == b';' {
                    k = self.skip_ws_from(k + 1)?;
                }
                k >= self.end
            };
            if rest_is_end {
                let mut inner = Parser { src: self.src, b: self.b, pos: body_start + 1, end: close, top: false };
                let stmt = inner.parse_print_body()?;
                self.pos = close + 1;
                self.expect_end()?;
                return Ok(Statement::PrintImage { inner: Box::new(stmt) });
            }
            // `(...) UNION (...)` etc.: a plain query, unless it is a statement.
            let mut probe = Parser { src: self.src, b: self.b, pos: body_start + 1, end: close, top: false };
            if probe.peek_tutorial_word()?.is_some() {
                return Err(
                    self.err_at(after, format!("unexpected {} after PRINT IMAGE AS (...)", self.describe_at(after)))
                );
            }
        }
        let stmt = self.parse_print_body()?;
        Ok(Statement::PrintImage { inner: Box::new(stmt) })
    }

    /// Tutorial keyword starting the text at `pos`, if any.
    fn peek_tutorial_word(&mut self) -> Result<Option<String>, ParseError> {
        Ok(self
            .peek_word()?
            .map(|w| w.to_ascii_lowercase())
            .filter(|w| matches!(w.as_str(), "search" | "copy" | "build" | "convert" | "print")))
    }

    /// SEARCH IMAGE ... or a raw query, up to `self.end`.
    fn parse_print_body(&mut self) -> Result<Statement, ParseError> {
        match self.peek_tutorial_word()?.as_deref() {
            Some("search") => self.parse_statement(),
            Some(_) => Err(self.expected("SEARCH IMAGE or a query")),
            None => Ok(Statement::Query(self.parse_query()?)),
        }
    }

    /// Offset of the `)` matching the `(` at `open`.
    fn matching_paren(&self, open: usize) -> Result<usize, ParseError> {
        let mut depth = 0usize;
        let mut i = open;
        while let Some(t) = self.next_token(i)? {
            i = t.end;
            match t.kind {
                Kind::LParen => depth += 1,
                Kind::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(t.start);
                    }
                }
                _ => {}
            }
        }
        Err(self.err_at(open, "unbalanced \"(\": missing \")\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Statement {
        match parse(s) {
            Ok(st) => st,
            Err(e) => panic!("failed to parse {s:?}:\n{e}"),
        }
    }
    fn err(s: &str) -> ParseError {
        match parse(s) {
            Ok(st) => panic!("expected error for {s:?}, got {st:?}"),
            Err(e) => e,
        }
    }
    fn t(s: &str) -> OptionValue {
        OptionValue::Text(s.to_string())
    }
    fn qn(schema: Option<&str>, name: &str) -> QualifiedName {
        QualifiedName { schema: schema.map(str::to_string), name: name.to_string() }
    }
    fn search_parts(st: Statement) -> (Vec<String>, String, String, String) {
        match st {
            Statement::SearchImage { images, model, source_query, order_limit } => {
                (images, model, source_query, order_limit)
            }
            other => panic!("not a search: {other:?}"),
        }
    }
    fn split(q: &str) -> (String, String) {
        let (_, _, s, o) = search_parts(ok(&format!("SEARCH IMAGE images='a.jpg' USING m AS {q}")));
        (s, o)
    }

    // ------------------------------------------------------- tutorial

    #[test]
    fn tutorial_copy_train() {
        assert_eq!(
            ok(r#"COPY mnist_train OPTIONS(overwrite=True) FROM "tutorial_data/mnist_data/mnist_train.csv";"#),
            Statement::Copy {
                table: qn(None, "mnist_train"),
                path: "tutorial_data/mnist_data/mnist_train.csv".into(),
                options: vec![("overwrite".into(), OptionValue::Bool(true))],
            }
        );
    }

    #[test]
    fn tutorial_copy_test() {
        assert_eq!(
            ok(r#"COPY mnist_test OPTIONS(overwrite=True) FROM "tutorial_data/mnist_data/mnist_test.csv";"#),
            Statement::Copy {
                table: qn(None, "mnist_test"),
                path: "tutorial_data/mnist_data/mnist_test.csv".into(),
                options: vec![("overwrite".into(), OptionValue::Bool(true))],
            }
        );
    }

    #[test]
    fn tutorial_build_model() {
        assert_eq!(
            ok("BUILD MODEL my_image_search_model USING SimCLR OPTIONS (max_epochs=5, batch_size=256, image_col='img_path', overwrite=True) AS SELECT * FROM mnist_train;"),
            Statement::BuildModel {
                model: "my_image_search_model".into(),
                algorithm: "simclr".into(),
                options: vec![
                    ("max_epochs".into(), OptionValue::Int(5)),
                    ("batch_size".into(), OptionValue::Int(256)),
                    ("image_col".into(), t("img_path")),
                    ("overwrite".into(), OptionValue::Bool(true)),
                ],
                source_query: "SELECT * FROM mnist_train".into(),
            }
        );
    }

    #[test]
    fn tutorial_convert() {
        assert_eq!(
            ok("CONVERT USING my_image_search_model OPTIONS (table_name='mnist_test', image_col='img_path') AS SELECT * FROM mnist_test;"),
            Statement::Convert {
                model: "my_image_search_model".into(),
                options: vec![
                    ("table_name".into(), t("mnist_test")),
                    ("image_col".into(), t("img_path")),
                ],
                source_query: "SELECT * FROM mnist_test".into(),
            }
        );
    }

    #[test]
    fn tutorial_search() {
        assert_eq!(
            ok("SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model AS SELECT * FROM mnist_test;"),
            Statement::SearchImage {
                images: vec!["tutorial_data/mnist_data/test/923.jpg".into()],
                model: "my_image_search_model".into(),
                source_query: "SELECT * FROM mnist_test".into(),
                order_limit: "".into(),
            }
        );
    }

    #[test]
    fn tutorial_print() {
        assert_eq!(
            ok("PRINT IMAGE AS (SEARCH IMAGE images='tutorial_data/mnist_data/test/923.jpg' USING my_image_search_model AS SELECT * FROM mnist_test ORDER BY my_image_search_model_simclr_similarity1 DESC LIMIT 4);"),
            Statement::PrintImage {
                inner: Box::new(Statement::SearchImage {
                    images: vec!["tutorial_data/mnist_data/test/923.jpg".into()],
                    model: "my_image_search_model".into(),
                    source_query: "SELECT * FROM mnist_test".into(),
                    order_limit: "ORDER BY my_image_search_model_simclr_similarity1 DESC LIMIT 4".into(),
                })
            }
        );
    }

    #[test]
    fn tutorial_without_semicolons_and_with_newlines() {
        let st = ok("\n  build   model\tmy_image_search_model\n using simclr\n options (max_epochs = 5 ,\n batch_size=256)\n as\n select *\n from mnist_train  \n");
        assert_eq!(
            st,
            Statement::BuildModel {
                model: "my_image_search_model".into(),
                algorithm: "simclr".into(),
                options: vec![("max_epochs".into(), OptionValue::Int(5)), ("batch_size".into(), OptionValue::Int(256)),],
                source_query: "select *\n from mnist_train".into(),
            }
        );
        let p = ok(
            "print image as (\n search image images='x.jpg' using m as select * from t order by s desc limit 4\n) ;; ",
        );
        assert!(matches!(p, Statement::PrintImage { .. }));
    }

    // ------------------------------------------------- case / identifiers

    #[test]
    fn keywords_case_insensitive() {
        let a = ok("CoPy T OpTiOnS(OVERWRITE=TRUE) fRoM 'x.csv'");
        assert_eq!(
            a,
            Statement::Copy {
                table: qn(None, "t"),
                path: "x.csv".into(),
                options: vec![("overwrite".into(), OptionValue::Bool(true))],
            }
        );
        let b = ok("Search Image IMAGES='a.jpg' Using M aS select 1 Order By 1 Limit 2");
        assert_eq!(search_parts(b), (vec!["a.jpg".into()], "m".into(), "select 1".into(), "Order By 1 Limit 2".into()));
        assert!(matches!(ok("convert using M as table t"), Statement::Convert { model, .. } if model == "m"));
    }

    #[test]
    fn quoted_identifiers() {
        assert_eq!(
            ok(r#"COPY "My Table" FROM 'x.csv'"#),
            Statement::Copy { table: qn(None, "My Table"), path: "x.csv".into(), options: vec![] }
        );
        assert!(matches!(
            ok(r#"BUILD MODEL "a""b" USING SimCLR AS SELECT 1"#),
            Statement::BuildModel { model, .. } if model == "a\"b"
        ));
        assert!(matches!(
            ok(r#"CONVERT USING "Mixed Case" AS SELECT 1"#),
            Statement::Convert { model, .. } if model == "Mixed Case"
        ));
        assert!(matches!(
            ok(r#"BUILD MODEL m USING "SimCLR" AS SELECT 1"#),
            Statement::BuildModel { algorithm, .. } if algorithm == "SimCLR"
        ));
        // bare identifiers with digits, $ and non-ASCII
        assert!(matches!(
            ok("BUILD MODEL Modèle_1$x USING simclr AS SELECT 1"),
            Statement::BuildModel { model, .. } if model == "modèle_1$x"
        ));
    }

    #[test]
    fn schema_qualified_names() {
        assert!(matches!(ok("COPY s.t FROM 'x'"), Statement::Copy { table, .. } if table == qn(Some("s"), "t")));
        assert!(matches!(ok("COPY S . T FROM 'x'"), Statement::Copy { table, .. } if table == qn(Some("s"), "t")));
        assert!(matches!(
            ok(r#"COPY "My Schema"."My.Table" FROM 'x'"#),
            Statement::Copy { table, .. } if table == qn(Some("My Schema"), "My.Table")
        ));
        let e = err("COPY a.b.c FROM 'x'");
        assert_eq!(e.position, 8);
        assert!(e.message.contains("too many dotted names"), "{}", e.message);
        // FROM is taken as the table name (positional grammar), then "'x'" isn't FROM
        let e = err("COPY a. FROM 'x'");
        assert_eq!((e.position, e.message.as_str()), (13, "expected OPTIONS or FROM, found \"'x'\""));
    }

    #[test]
    fn identifier_errors() {
        let e = err(r#"COPY "" FROM 'x'"#);
        assert_eq!((e.position, e.message.as_str()), (5, "zero-length delimited identifier"));
        let long = "a".repeat(64);
        let e = err(&format!("BUILD MODEL {long} USING simclr AS SELECT 1"));
        assert_eq!(e.position, 12);
        assert!(e.message.contains("too long"));
        assert!(parse(&format!("BUILD MODEL {} USING simclr AS SELECT 1", "a".repeat(63))).is_ok());
        let e = err(r#"COPY "abc FROM 'x'"#);
        assert_eq!((e.position, e.message.as_str()), (5, "unterminated quoted identifier"));
        let e = err("COPY 'tbl' FROM 'x'");
        assert_eq!(e.position, 5);
        assert_eq!(e.message, "expected table name, found \"'tbl'\"");
    }

    // -------------------------------------------------------------- COPY

    #[test]
    fn copy_variants() {
        let expect = Statement::Copy {
            table: qn(None, "t"),
            path: "it's.csv".into(),
            options: vec![("overwrite".into(), OptionValue::Bool(false)), ("delimiter".into(), t(";"))],
        };
        assert_eq!(ok("COPY t FROM 'it''s.csv' OPTIONS (overwrite=false, delimiter=';');"), expect);
        assert_eq!(ok("COPY t OPTIONS (overwrite=False, delimiter=\";\") FROM \"it's.csv\""), expect);
        assert_eq!(
            ok("COPY t FROM 'a\\b.csv'"),
            Statement::Copy { table: qn(None, "t"), path: "a\\b.csv".into(), options: vec![] }
        );
        assert_eq!(
            ok(r#"COPY t FROM "say ""hi"".csv" OPTIONS()"#),
            Statement::Copy { table: qn(None, "t"), path: "say \"hi\".csv".into(), options: vec![] }
        );
        let e = err("COPY t OPTIONS(a=1) FROM 'x' OPTIONS(b=2)");
        assert_eq!((e.position, e.message.as_str()), (29, "OPTIONS specified more than once"));
        let e = err("COPY t FROM x.csv");
        assert_eq!(e.position, 12);
        assert_eq!(e.message, "expected quoted file path, found \"x\"");
        let e = err("COPY t FROM ''");
        assert_eq!(e.position, 12);
        let e = err("COPY t TO 'x'");
        assert_eq!(e.message, "expected OPTIONS or FROM, found \"TO\"");
        let e = err("COPY t FROM 'x' DELIMITER ','");
        assert_eq!(e.position, 16);
        assert_eq!(e.message, "unexpected \"DELIMITER\" after end of statement");
    }

    // ---------------------------------------------------------- options

    #[test]
    fn option_values() {
        let st = ok("BUILD MODEL m USING simclr OPTIONS (a=1, b=-2, c=+3, d=1.5, e=-.25, f=1e3, g=2.5E-2, h=TRUE, i=false, j='Str', k=\"Dq\", l=SomeWord, m=9223372036854775807, n=-9223372036854775808, O=5.) AS SELECT 1");
        let Statement::BuildModel { options, .. } = st else { panic!() };
        assert_eq!(
            options,
            vec![
                ("a".into(), OptionValue::Int(1)),
                ("b".into(), OptionValue::Int(-2)),
                ("c".into(), OptionValue::Int(3)),
                ("d".into(), OptionValue::Float(1.5)),
                ("e".into(), OptionValue::Float(-0.25)),
                ("f".into(), OptionValue::Float(1000.0)),
                ("g".into(), OptionValue::Float(0.025)),
                ("h".into(), OptionValue::Bool(true)),
                ("i".into(), OptionValue::Bool(false)),
                ("j".into(), t("Str")),
                ("k".into(), t("Dq")),
                ("l".into(), t("someword")),
                ("m".into(), OptionValue::Int(i64::MAX)),
                ("n".into(), OptionValue::Int(i64::MIN)),
                ("o".into(), OptionValue::Float(5.0)),
            ]
        );
        // quoted strings are never coerced
        let Statement::Convert { options, .. } = ok("CONVERT USING m OPTIONS (x='5', y='true') AS SELECT 1") else {
            panic!()
        };
        assert_eq!(options, vec![("x".into(), t("5")), ("y".into(), t("true"))]);
    }

    #[test]
    fn option_errors() {
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=9223372036854775808) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "integer \"9223372036854775808\" is out of range"));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=5abc) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "invalid number \"5abc\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=1e999) AS SELECT 1");
        assert_eq!(e.position, 38);
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=1,) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (40, "expected option name, found \")\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a 1) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "expected \"=\", found \"1\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=1 b=2) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (40, "expected \",\" or \")\", found \"b\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS a=1 AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (35, "expected \"(\", found \"a\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a=) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "expected option value, found \")\""));
        let e = err("BUILD MODEL m USING simclr OPTIONS (a='x) AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (38, "unterminated quoted string"));
    }

    #[test]
    fn duplicate_options() {
        let e = err("BUILD MODEL m USING SimCLR OPTIONS (max_epochs=5, batch_size=256, MAX_EPOCHS=6) AS SELECT 1");
        assert_eq!(e.position, 66);
        assert_eq!(e.message, "option \"max_epochs\" specified more than once");
        let e = err("COPY t OPTIONS(overwrite=True, Overwrite=False) FROM 'x'");
        assert_eq!(e.position, 31);
        assert!(e.message.contains("\"overwrite\""));
    }

    // ------------------------------------------------------ SEARCH IMAGE

    #[test]
    fn search_image_lists() {
        let (images, _, _, _) =
            search_parts(ok("SEARCH IMAGE images=('a.jpg', \"b c.jpg\" ,'it''s.png') USING m AS SELECT 1"));
        assert_eq!(images, vec!["a.jpg", "b c.jpg", "it's.png"]);
        // a single string is one path even if it contains commas
        let (images, _, _, _) = search_parts(ok("SEARCH IMAGE images='a.jpg,b.jpg' USING m AS SELECT 1"));
        assert_eq!(images, vec!["a.jpg,b.jpg"]);
        let e = err("SEARCH IMAGE images=() USING m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (21, "expected quoted image path, found \")\""));
        let e = err("SEARCH IMAGE images=('a.jpg',) USING m AS SELECT 1");
        assert_eq!(e.position, 29);
        let e = err("SEARCH IMAGE images=a.jpg USING m AS SELECT 1");
        assert_eq!(e.position, 20);
        let e = err("SEARCH IMAGE images='' USING m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (20, "quoted image path or \"(\" must not be empty"));
        let e = err("SEARCH IMAGE img='a' USING m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (13, "expected IMAGES, found \"img\""));
    }

    #[test]
    fn order_limit_split_basic() {
        assert_eq!(split("SELECT * FROM t"), ("SELECT * FROM t".into(), "".into()));
        assert_eq!(split("SELECT * FROM t LIMIT 4"), ("SELECT * FROM t".into(), "LIMIT 4".into()));
        assert_eq!(
            split("SELECT * FROM t  order\n by s desc limit 4 ;"),
            ("SELECT * FROM t".into(), "order\n by s desc limit 4".into())
        );
        assert_eq!(split("SELECT * FROM t OFFSET 2"), ("SELECT * FROM t".into(), "OFFSET 2".into()));
        assert_eq!(
            split("SELECT * FROM t FETCH FIRST 3 ROWS ONLY"),
            ("SELECT * FROM t".into(), "FETCH FIRST 3 ROWS ONLY".into())
        );
        assert_eq!(split("TABLE t ORDER BY 1"), ("TABLE t".into(), "ORDER BY 1".into()));
    }

    #[test]
    fn order_limit_not_split_inside_parens_quotes_comments() {
        // subquery
        assert_eq!(
            split("SELECT * FROM (SELECT * FROM t ORDER BY x LIMIT 10) s ORDER BY sim DESC LIMIT 4"),
            ("SELECT * FROM (SELECT * FROM t ORDER BY x LIMIT 10) s".into(), "ORDER BY sim DESC LIMIT 4".into())
        );
        assert_eq!(
            split("SELECT * FROM (SELECT * FROM t ORDER BY x LIMIT 10) s"),
            ("SELECT * FROM (SELECT * FROM t ORDER BY x LIMIT 10) s".into(), "".into())
        );
        // window / aggregate ORDER BY, CTE
        assert_eq!(
            split("WITH c AS (SELECT * FROM t ORDER BY 1 LIMIT 3) SELECT string_agg(a, ',' ORDER BY a) OVER (ORDER BY b) FROM c"),
            ("WITH c AS (SELECT * FROM t ORDER BY 1 LIMIT 3) SELECT string_agg(a, ',' ORDER BY a) OVER (ORDER BY b) FROM c".into(), "".into())
        );
        // strings, E-strings, quoted identifiers, dollar quotes, comments
        let q = "SELECT 'x ORDER BY y', E'it\\'s LIMIT 1', \"order by\", $$ LIMIT 2 $$, $tag$ ) ORDER BY $ $tag$ /* LIMIT 3 /* nested ) */ */ -- LIMIT 4 )\nFROM t";
        assert_eq!(split(q), (q.into(), "".into()));
        assert_eq!(split(&format!("{q} LIMIT 5")), (q.into(), "LIMIT 5".into()));
        // reserved words used as column labels
        assert_eq!(
            split("SELECT t.limit, x AS offset, t . order FROM t"),
            ("SELECT t.limit, x AS offset, t . order FROM t".into(), "".into())
        );
        // ORDER without BY is not a split point; $1 params and a$b identifiers are fine
        assert_eq!(split("SELECT a$limit, $1 FROM t LIMIT 1"), ("SELECT a$limit, $1 FROM t".into(), "LIMIT 1".into()));
        // UNION of parenthesised branches
        assert_eq!(
            split("(SELECT * FROM a LIMIT 2) UNION ALL (SELECT * FROM b) ORDER BY 1"),
            ("(SELECT * FROM a LIMIT 2) UNION ALL (SELECT * FROM b)".into(), "ORDER BY 1".into())
        );
    }

    #[test]
    fn query_trimming_and_comments() {
        assert_eq!(split("  /* lead */ SELECT * FROM t -- trailing comment"), ("SELECT * FROM t".into(), "".into()));
        assert_eq!(
            split("SELECT * FROM t LIMIT 4 -- trailing\n ; -- after\n ;"),
            ("SELECT * FROM t".into(), "LIMIT 4".into())
        );
        assert!(matches!(
            ok("CONVERT USING m AS SELECT 1 -- c"),
            Statement::Convert { source_query, .. } if source_query == "SELECT 1"
        ));
        let e = err("SEARCH IMAGE images='a' USING m AS LIMIT 4");
        assert_eq!((e.position, e.message.as_str()), (35, "expected a query before \"LIMIT\""));
        let e = err("SEARCH IMAGE images='a' USING m AS ;");
        assert_eq!((e.position, e.message.as_str()), (35, "expected a query after AS, found \";\""));
        let e = err("BUILD MODEL m USING simclr AS   ");
        assert_eq!((e.position, e.message.as_str()), (32, "expected a query after AS, found end of input"));
        let e = err("BUILD MODEL m USING simclr AS -- nothing");
        assert_eq!(e.position, 40);
    }

    // ------------------------------------------------------- PRINT IMAGE

    #[test]
    fn print_image_variants() {
        assert_eq!(
            ok("PRINT IMAGE AS (SELECT img_path FROM t WHERE x = ')' LIMIT 3);"),
            Statement::PrintImage {
                inner: Box::new(Statement::Query("SELECT img_path FROM t WHERE x = ')' LIMIT 3".into()))
            }
        );
        assert_eq!(
            ok("PRINT IMAGE AS (SELECT 1) UNION (SELECT 2)"),
            Statement::PrintImage { inner: Box::new(Statement::Query("(SELECT 1) UNION (SELECT 2)".into())) }
        );
        assert_eq!(
            ok("PRINT IMAGE AS SELECT 1"),
            Statement::PrintImage { inner: Box::new(Statement::Query("SELECT 1".into())) }
        );
        let st = ok("PRINT IMAGE AS SEARCH IMAGE images=('a','b') USING m AS SELECT * FROM t LIMIT 2;");
        let Statement::PrintImage { inner } = st else { panic!() };
        assert_eq!(
            search_parts(*inner),
            (vec!["a".into(), "b".into()], "m".into(), "SELECT * FROM t".into(), "LIMIT 2".into())
        );
        // inner query with nested parens keeps them
        let st =
            ok("PRINT IMAGE AS ( SEARCH IMAGE images='a' USING m AS SELECT * FROM (SELECT 1) s ORDER BY (sim) DESC )");
        let Statement::PrintImage { inner } = st else { panic!() };
        assert_eq!(search_parts(*inner).2, "SELECT * FROM (SELECT 1) s");
    }

    #[test]
    fn print_image_errors() {
        let s = "PRINT IMAGE AS (SEARCH IMAGE images='a' USING m AS SELECT 1; DROP TABLE t)";
        let e = err(s);
        assert_eq!((e.position, e.message.as_str()), (59, "\";\" is only allowed at the end of the statement"));
        let e = err("PRINT IMAGE AS (SEARCH IMAGE images='a' USING m AS SELECT 1) garbage");
        assert_eq!((e.position, e.message.as_str()), (61, "unexpected \"garbage\" after PRINT IMAGE AS (...)"));
        let e = err("PRINT IMAGE AS (SEARCH IMAGE images='a' USING m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (15, "unbalanced \"(\": missing \")\""));
        let e = err("PRINT IMAGE AS (SEARCH IMAGE images='a' USIN m AS SELECT 1)");
        assert_eq!((e.position, e.message.as_str()), (40, "expected USING, found \"USIN\""));
        let e = err("PRINT IMAGE AS (SEARCH IMAGE images='a')");
        assert_eq!((e.position, e.message.as_str()), (39, "expected USING, found \")\""));
        let e = err("PRINT IMAGE AS (BUILD MODEL m USING simclr AS SELECT 1)");
        assert_eq!((e.position, e.message.as_str()), (16, "expected SEARCH IMAGE or a query, found \"BUILD\""));
        let e = err("PRINT IMAGE AS ()");
        assert_eq!(e.position, 16);
        let e = err("PRINT IMAGE (SELECT 1)");
        assert_eq!((e.position, e.message.as_str()), (12, "expected AS, found \"(\""));
    }

    // ------------------------------------------- errors / injection / caret

    #[test]
    fn unknown_and_empty_statements() {
        let e = err("SELECT * FROM t");
        assert_eq!(e.position, 0);
        assert_eq!(
            e.message,
            "expected COPY, BUILD MODEL, CONVERT USING, SEARCH IMAGE or PRINT IMAGE, found \"SELECT\""
        );
        assert_eq!(
            err("  ;").message,
            "expected COPY, BUILD MODEL, CONVERT USING, SEARCH IMAGE or PRINT IMAGE, found \";\""
        );
        let e = err("   -- only a comment\n");
        assert_eq!((e.position, e.message.as_str()), (21, "empty statement"));
        let e = err("/* unterminated");
        assert_eq!((e.position, e.message.as_str()), (0, "unterminated /* comment"));
        let e = err("BUILD MODELS m");
        assert_eq!((e.position, e.message.as_str()), (6, "expected MODEL, found \"MODELS\""));
        let e = err("CONVERT m AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (8, "expected USING, found \"m\""));
    }

    #[test]
    fn injection_attempts() {
        let e = err("BUILD MODEL x; DROP TABLE y USING SimCLR AS SELECT 1");
        assert_eq!((e.position, e.message.as_str()), (13, "expected USING, found \";\""));
        let e = err("BUILD MODEL m USING simclr AS SELECT 1; DROP TABLE y");
        assert_eq!((e.position, e.message.as_str()), (40, "unexpected \"DROP\" after end of statement"));
        let e = err("BUILD MODEL m USING simclr AS SELECT 1 -- x\n; DROP TABLE y;");
        assert_eq!(e.position, 46);
        let e = err("COPY t FROM 'x'; DROP TABLE y");
        assert_eq!((e.position, e.message.as_str()), (17, "unexpected \"DROP\" after end of statement"));
        let e = err("SEARCH IMAGE images='a' USING m AS SELECT 1) s; DROP TABLE y; SELECT (1");
        assert_eq!((e.position, e.message.as_str()), (43, "unbalanced \")\" in query"));
        let e = err("CONVERT USING m AS SELECT (1");
        assert_eq!((e.position, e.message.as_str()), (26, "unbalanced \"(\" in query"));
        let e = err("CONVERT USING m AS SELECT (1; DROP TABLE y)");
        assert_eq!(e.position, 28);
        let e = err("CONVERT USING m AS SELECT 'abc");
        assert_eq!((e.position, e.message.as_str()), (26, "unterminated quoted string"));
        let e = err("CONVERT USING m AS SELECT $x$ abc $y$");
        assert_eq!((e.position, e.message.as_str()), (26, "unterminated dollar-quoted string"));
        let e = err("CONVERT USING m AS SELECT 1 /* ; DROP TABLE y");
        assert_eq!((e.position, e.message.as_str()), (28, "unterminated /* comment"));
        // quote tricks end up inside returned strings, not as structure
        let st = ok("COPY \"t\"\" FROM 'x'; DROP TABLE y; --\" FROM 'p'");
        assert_eq!(
            st,
            Statement::Copy { table: qn(None, "t\" FROM 'x'; DROP TABLE y; --"), path: "p".into(), options: vec![] }
        );
        // semicolons inside quotes in the query are fine
        assert!(matches!(
            ok("CONVERT USING m AS SELECT ';' AS \";\", $$;$$"),
            Statement::Convert { source_query, .. } if source_query == "SELECT ';' AS \";\", $$;$$"
        ));
    }

    #[test]
    fn caret_display() {
        let e = err("BUILD MODEL m USIN SimCLR AS SELECT 1");
        assert_eq!(e.position, 14);
        assert_eq!(
            e.to_string(),
            "syntax error at position 14: expected USING, found \"USIN\"\n\
             BUILD MODEL m USIN SimCLR AS SELECT 1\n\
             \x20             ^"
        );
        assert_eq!(e.cursor_position(), 15);
        // end of input
        let e = err("COPY t FROM");
        assert_eq!(
            e.to_string(),
            "syntax error at position 11: expected quoted file path, found end of input\nCOPY t FROM\n           ^"
        );
    }

    #[test]
    fn caret_display_multiline_and_unicode() {
        let s = "BUILD MODEL modèle\n  USING simclr\n\tOPTIONS (a=1, a=2)\n  AS SELECT 1";
        let e = err(s);
        assert_eq!(e.position, s.find("a=2").unwrap());
        assert_eq!(
            e.to_string(),
            format!("syntax error at position {}: option \"a\" specified more than once\n\tOPTIONS (a=1, a=2)\n\t              ^", e.position)
        );
        let e = err("COPY ñandú ;");
        assert_eq!(e.position, 13);
        assert_eq!(e.cursor_position(), 12);
        assert!(e.to_string().ends_with("COPY ñandú ;\n           ^"), "{e}");
    }

    #[test]
    fn caret_display_long_line_window() {
        let s = format!("CONVERT USING m AS SELECT {} FROM t; x", "a, ".repeat(100));
        let e = err(&s);
        let shown = e.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("...") && lines[1].len() < 130);
        let caret_col = lines[2].len() - 1;
        assert_eq!(&lines[1][caret_col..caret_col + 1], "x");
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Deterministic xorshift so the test needs no dependencies.
    fn rng(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    fn check(s: &str) {
        match parse(s) {
            Ok(_) => {}
            Err(e) => {
                assert!(e.position <= s.len(), "{s:?}: {e:?}");
                assert!(s.is_char_boundary(e.position), "{s:?}: {e:?}");
                let shown = e.to_string();
                assert_eq!(shown.lines().count().max(3), 3, "{shown}");
                let _ = e.cursor_position();
            }
        }
    }

    #[test]
    fn no_panics_on_prefixes_and_mutations() {
        let base = [
            "COPY mnist_train OPTIONS(overwrite=True) FROM \"tutorial_data/mnist_data/mnist_train.csv\";",
            "BUILD MODEL my_image_search_model USING SimCLR OPTIONS (max_epochs=5, batch_size=256, image_col='img_path', overwrite=True) AS SELECT * FROM mnist_train;",
            "CONVERT USING m OPTIONS (table_name='mnist_test') AS SELECT $t$x$t$, E'\\'', \"q\"\"\" FROM (SELECT 1) s /* c */ -- d\n;",
            "PRINT IMAGE AS (SEARCH IMAGE images=('a.jpg','ñ.jpg') USING m AS SELECT * FROM t ORDER BY s DESC LIMIT 4);",
        ];
        let alphabet: Vec<char> = "'\"()$;,.=-/*\\ \nEeaz0ñ".chars().collect();
        let mut seed = 0x9E3779B97F4A7C15u64;
        for s in base {
            assert!(parse(s).is_ok(), "{s}");
            for (i, _) in s.char_indices() {
                check(&s[..i]);
                check(&s[i..]);
            }
            for _ in 0..3000 {
                let mut chars: Vec<char> = s.chars().collect();
                for _ in 0..(1 + rng(&mut seed) % 3) {
                    let at = (rng(&mut seed) as usize) % chars.len();
                    let c = alphabet[(rng(&mut seed) as usize) % alphabet.len()];
                    match rng(&mut seed) % 3 {
                        0 => chars[at] = c,
                        1 => chars.insert(at, c),
                        _ => {
                            chars.remove(at);
                        }
                    }
                }
                check(&chars.into_iter().collect::<String>());
            }
        }
    }
}
