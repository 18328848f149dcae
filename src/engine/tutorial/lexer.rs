//! Scanning the statement: sqlparser's tokenizer (PostgreSQL dialect) cuts it into
//! tokens once, with byte offsets; on those this file skips whitespace and
//! comments, finds where quoted strings end, and lexes (not parses) the raw SQL
//! query after `AS` to find where it ends and where its ORDER BY / LIMIT starts.
//! The grammar keeps its own rules for words, numbers and option values, and the
//! caret-pointed errors keep our wording: an unterminated quote, dollar quote or
//! comment is named here from the text where sqlparser stopped.
use super::*;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Location, Token as SqlToken, Tokenizer};
use std::borrow::Cow;

/// A text's tokens, whitespace and comments included, so that they tile it from
/// where tokenizing began to `stop`, where it ended or failed.
#[derive(Clone, Debug)]
pub(super) struct Lexed {
    tokens: Vec<Token>,
    stop: usize,
    /// sqlparser's message when a token starting at `stop` could not be read.
    failure: Option<String>,
}

impl Lexed {
    /// Tokenizes `text[from..]`; offsets are into `text`.
    pub(super) fn new(text: &str, from: usize) -> Lexed {
        let rest = text.get(from..).unwrap_or("");
        let mut spans = Vec::new();
        let result = Tokenizer::new(&PostgreSqlDialect {}, rest).tokenize_with_location_into_buf(&mut spans);
        let mut cursor = Cursor { rest: rest.chars(), byte: from, line: 1, column: 1 };
        let tokens: Vec<Token> = spans
            .iter()
            .map(|t| {
                let start = cursor.advance_to(t.span.start);
                let end = cursor.advance_to(t.span.end);
                Token { start, end, kind: kind_of(&t.token, text.as_bytes().get(start).copied().unwrap_or(0)) }
            })
            .collect();
        let stop = tokens.last().map_or(from, |t| t.end);
        Lexed { tokens, stop, failure: result.err().map(|e| e.message) }
    }
}

/// Turns sqlparser's (line, column in characters) locations into byte offsets,
/// counting lines and columns as its tokenizer does; locations only move forward.
struct Cursor<'t> {
    rest: std::str::Chars<'t>,
    byte: usize,
    line: u64,
    column: u64,
}

impl Cursor<'_> {
    fn advance_to(&mut self, to: Location) -> usize {
        while (self.line, self.column) < (to.line, to.column) {
            let Some(c) = self.rest.next() else { break };
            self.byte += c.len_utf8();
            if c == '\n' {
                (self.line, self.column) = (self.line + 1, 1);
            } else {
                self.column += 1;
            }
        }
        self.byte
    }
}

/// What the grammar and the query scan need to know of a sqlparser token.
fn kind_of(token: &SqlToken, first_byte: u8) -> Kind {
    match token {
        SqlToken::Whitespace(_) => Kind::Space,
        SqlToken::Word(word) if word.quote_style.is_none() => Kind::Word,
        SqlToken::Word(_) => Kind::QuotedIdent,
        SqlToken::Number(..) => Kind::Num,
        SqlToken::Placeholder(_) => Kind::Param,
        SqlToken::LParen => Kind::LParen,
        SqlToken::RParen => Kind::RParen,
        SqlToken::SemiColon => Kind::Semi,
        SqlToken::SingleQuotedString(_)
        | SqlToken::EscapedStringLiteral(_)
        | SqlToken::UnicodeStringLiteral(_)
        | SqlToken::NationalStringLiteral(_)
        | SqlToken::HexStringLiteral(_)
        | SqlToken::SingleQuotedByteStringLiteral(_)
        | SqlToken::DollarQuotedString(_) => Kind::Str,
        _ => Kind::Other(first_byte),
    }
}

impl<'a> Parser<'a> {
    // ---------------------------------------------------------------- errors

    pub(super) fn err_at(&self, position: usize, message: impl Into<String>) -> ParseError {
        ParseError { message: message.into(), position, statement: self.src.to_string() }
    }

    /// Short description of the token at `pos` for "found ..." messages.
    pub(super) fn describe_at(&self, pos: usize) -> String {
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

    pub(super) fn expected(&self, what: &str) -> ParseError {
        self.err_at(self.pos, format!("expected {what}, found {}", self.describe_at(self.pos)))
    }

    // ---------------------------------------------------------------- lexing

    /// The tokens from byte `i` on, and the index of the first: the statement's own
    /// table when a token starts at `i`, else (the grammar stopped inside a token,
    /// say after the `=` of `=>`) the text from `i` tokenized afresh, as a scanner
    /// starting there would.
    fn lexed_from(&self, i: usize) -> (Cow<'a, Lexed>, usize) {
        let table = self.lexed;
        let k = table.tokens.partition_point(|t| t.start < i);
        let at_a_token = table.tokens.get(k).map_or(table.stop == i, |t| t.start == i);
        if at_a_token {
            (Cow::Borrowed(table), k)
        } else {
            (Cow::Owned(Lexed::new(self.src, i)), 0)
        }
    }

    /// The error for a token that sqlparser could not finish at `at`, in our words
    /// for quotes, dollar quotes and comments (pointing at the opening quote, after
    /// any E, U&, N, X or B prefix), else in sqlparser's.
    fn unreadable_token(&self, at: usize, lexed: &Lexed) -> ParseError {
        let rest = &self.b[at..];
        if rest.starts_with(b"/*") {
            return self.err_at(at, "unterminated /* comment");
        }
        if rest.first() == Some(&b'$') {
            return self.err_at(at, "unterminated dollar-quoted string");
        }
        match rest.iter().take(3).position(|&c| c == b'\'' || c == b'"') {
            Some(q) if rest[q] == b'"' => self.err_at(at + q, "unterminated quoted identifier"),
            Some(q) => self.err_at(at + q, "unterminated quoted string"),
            None => {
                let message = lexed.failure.as_deref().unwrap_or("unreadable token");
                let mut chars = message.chars();
                let lowered = chars.next().map(|c| c.to_ascii_lowercase().to_string() + chars.as_str());
                self.err_at(at, lowered.unwrap_or_default())
            }
        }
    }

    /// Skip whitespace and comments starting at `i`; returns the new offset.
    pub(super) fn skip_ws_from(&self, i: usize) -> Result<usize, ParseError> {
        let (lexed, mut k) = self.lexed_from(i);
        let mut at = i;
        while at < self.end {
            match lexed.tokens.get(k) {
                Some(t) if t.kind == Kind::Space => (at, k) = (t.end, k + 1),
                Some(_) => break,
                None if lexed.failure.is_some() && self.b[at..].starts_with(b"/*") => {
                    return Err(self.unreadable_token(at, &lexed));
                }
                None => break,
            }
        }
        Ok(at.min(self.end))
    }

    pub(super) fn skip_ws(&mut self) -> Result<(), ParseError> {
        self.pos = self.skip_ws_from(self.pos)?;
        Ok(())
    }

    /// End offset of the quoted string or identifier starting at `i` (which holds the quote).
    pub(super) fn scan_quoted(&self, i: usize) -> Result<usize, ParseError> {
        let (lexed, k) = self.lexed_from(i);
        match lexed.tokens.get(k) {
            Some(t) => Ok(t.end),
            None => Err(self.unreadable_token(i, &lexed)),
        }
    }

    /// Next SQL token at or after `i` (skipping whitespace/comments), or None at `end`.
    pub(super) fn next_token(&self, i: usize) -> Result<Option<Token>, ParseError> {
        let start = self.skip_ws_from(i)?;
        if start >= self.end {
            return Ok(None);
        }
        let (lexed, k) = self.lexed_from(start);
        match lexed.tokens.get(k) {
            Some(t) => Ok(Some(*t)),
            None => Err(self.unreadable_token(start, &lexed)),
        }
    }

    /// Lex the raw query from `self.pos` to `self.end`. Consumes everything.
    pub(super) fn scan_query(&mut self, want_split: bool) -> Result<QueryScan, ParseError> {
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
}
