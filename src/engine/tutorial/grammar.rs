//! The statement rules: COPY, BUILD MODEL, CONVERT USING, SEARCH IMAGE and
//! PRINT IMAGE, with their OPTIONS lists, on top of `lexer`'s scanning.
use super::*;

impl<'a> Parser<'a> {
    // ------------------------------------------------------- grammar pieces

    /// Bare word at the current position (after whitespace), not consumed.
    pub(super) fn peek_word(&mut self) -> Result<Option<&'a str>, ParseError> {
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

    pub(super) fn accept_keyword(&mut self, kw: &str) -> Result<bool, ParseError> {
        match self.peek_word()? {
            Some(w) if w.eq_ignore_ascii_case(kw) => {
                self.pos += w.len();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    pub(super) fn expect_keyword(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.accept_keyword(kw)? {
            Ok(())
        } else {
            Err(self.expected(&kw.to_ascii_uppercase()))
        }
    }

    pub(super) fn accept_char(&mut self, c: u8) -> Result<bool, ParseError> {
        self.skip_ws()?;
        if self.pos < self.end && self.b[self.pos] == c {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    pub(super) fn expect_char(&mut self, c: u8) -> Result<(), ParseError> {
        if self.accept_char(c)? {
            Ok(())
        } else {
            Err(self.expected(&format!("\"{}\"", c as char)))
        }
    }

    /// Content of a `'...'` / `"..."` token at `self.pos` (quote doubled = literal quote).
    pub(super) fn read_quoted(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let q = self.b[start];
        let end = self.scan_quoted(start)?;
        let doubled = [q as char, q as char].iter().collect::<String>();
        let text = self.src[start + 1..end - 1].replace(&doubled, &(q as char).to_string());
        if text.contains('\0') {
            return Err(self.err_at(start, "NUL character not allowed"));
        }
        self.pos = end;
        Ok(text)
    }

    /// Bare (folded) or double-quoted identifier.
    pub(super) fn parse_ident(&mut self, what: &str) -> Result<String, ParseError> {
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

    pub(super) fn parse_qualified_name(&mut self) -> Result<QualifiedName, ParseError> {
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
    pub(super) fn parse_string(&mut self, what: &str) -> Result<String, ParseError> {
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
    pub(super) fn parse_options(&mut self) -> Result<Vec<(String, OptionValue)>, ParseError> {
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

    pub(super) fn parse_option_value(&mut self) -> Result<OptionValue, ParseError> {
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
    pub(super) fn expect_end(&mut self) -> Result<(), ParseError> {
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

    pub(super) fn parse_query(&mut self) -> Result<String, ParseError> {
        let q = self.scan_query(false)?;
        Ok(self.src[q.start..q.end].to_string())
    }

    // ------------------------------------------------------------ statements

    pub(super) fn parse_statement(&mut self) -> Result<Statement, ParseError> {
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

    pub(super) fn expect_as(&mut self, what: &str) -> Result<(), ParseError> {
        if self.accept_keyword("as")? {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    pub(super) fn parse_copy(&mut self) -> Result<Statement, ParseError> {
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

    pub(super) fn parse_search(&mut self) -> Result<Statement, ParseError> {
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

    pub(super) fn parse_print(&mut self) -> Result<Statement, ParseError> {
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
                let mut inner =
                    Parser { lexed: self.lexed, src: self.src, b: self.b, pos: body_start + 1, end: close, top: false };
                let stmt = inner.parse_print_body()?;
                self.pos = close + 1;
                self.expect_end()?;
                return Ok(Statement::PrintImage { inner: Box::new(stmt) });
            }
            // `(...) UNION (...)` etc.: a plain query, unless it is a statement.
            let mut probe =
                Parser { lexed: self.lexed, src: self.src, b: self.b, pos: body_start + 1, end: close, top: false };
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
    pub(super) fn peek_tutorial_word(&mut self) -> Result<Option<String>, ParseError> {
        Ok(self
            .peek_word()?
            .map(|w| w.to_ascii_lowercase())
            .filter(|w| matches!(w.as_str(), "search" | "copy" | "build" | "convert" | "print")))
    }

    /// SEARCH IMAGE ... or a raw query, up to `self.end`.
    pub(super) fn parse_print_body(&mut self) -> Result<Statement, ParseError> {
        match self.peek_tutorial_word()?.as_deref() {
            Some("search") => self.parse_statement(),
            Some(_) => Err(self.expected("SEARCH IMAGE or a query")),
            None => Ok(Statement::Query(self.parse_query()?)),
        }
    }

    /// Offset of the `)` matching the `(` at `open`.
    pub(super) fn matching_paren(&self, open: usize) -> Result<usize, ParseError> {
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
