//! Scanning the statement: whitespace and comments, tokens, quoted strings and
//! the raw SQL query after `AS` (lexed, not parsed, to find where it ends and
//! where its ORDER BY / LIMIT starts), and the caret-pointed errors.
use super::*;

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

    /// Skip whitespace and comments starting at `i`; returns the new offset.
    pub(super) fn skip_ws_from(&self, mut i: usize) -> Result<usize, ParseError> {
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

    pub(super) fn skip_ws(&mut self) -> Result<(), ParseError> {
        self.pos = self.skip_ws_from(self.pos)?;
        Ok(())
    }

    /// End offset of a quoted token starting at `i` (which holds the quote).
    pub(super) fn scan_quoted(&self, i: usize, q: u8, backslash: bool) -> Result<usize, ParseError> {
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
    pub(super) fn next_token(&self, i: usize) -> Result<Option<Token>, ParseError> {
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
