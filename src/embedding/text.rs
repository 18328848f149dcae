//! The embedding's values as plain Rust: checks, the text form `[1,2,3]` and
//! pgvector's binary wire format. No Postgres here; `super` raises the errors.

/// The most dimensions an embedding may have (pgvector's limit).
pub const MAX_DIM: usize = 16000;

/// Why a value cannot be an embedding, or why an operation on embeddings failed; turned
/// into a Postgres ERROR at the SQL edge. The messages are pgvector's, with our type name.
#[derive(Debug, PartialEq)]
pub enum EmbeddingError {
    /// Text that is not an embedding literal, with pgvector's DETAIL where it gives one.
    Syntax {
        text: String,
        detail: Option<&'static str>,
    },
    /// A number too large for float4, as it was written.
    OutOfRange(String),
    Empty,
    TooManyDims,
    NotFinite(f32),
    /// A value whose dimension is not the one its type modifier (or state) expects.
    DimMismatch {
        expected: usize,
        got: usize,
    },
    /// The two operands of a binary operation differ in dimension.
    DifferentDims(usize, usize),
    /// A result too large (or too close to zero) for float4, as float4 arithmetic reports it.
    Overflow,
    Underflow,
}

pub const DETAIL_MUST_START: &str = "Embedding contents must start with \"[\".";
pub const DETAIL_JUNK: &str = "Junk after closing right brace.";

impl EmbeddingError {
    fn syntax(text: &str, detail: Option<&'static str>) -> EmbeddingError {
        EmbeddingError::Syntax { text: text.to_string(), detail }
    }

    /// The DETAIL line of the ERROR, where pgvector gives one.
    pub fn detail(&self) -> Option<&'static str> {
        match self {
            Self::Syntax { detail, .. } => *detail,
            _ => None,
        }
    }
}

impl std::fmt::Display for EmbeddingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syntax { text, .. } => write!(f, "invalid input syntax for type embedding: \"{text}\""),
            Self::OutOfRange(number) => write!(f, "\"{number}\" is out of range for type embedding"),
            Self::Empty => write!(f, "embedding must have at least 1 dimension"),
            Self::TooManyDims => write!(f, "embedding cannot have more than {MAX_DIM} dimensions"),
            Self::NotFinite(x) if x.is_nan() => write!(f, "NaN not allowed in embedding"),
            Self::NotFinite(_) => write!(f, "infinite value not allowed in embedding"),
            Self::DimMismatch { expected, got } => write!(f, "expected {expected} dimensions, not {got}"),
            Self::DifferentDims(a, b) => write!(f, "different embedding dimensions {a} and {b}"),
            Self::Overflow => write!(f, "value out of range: overflow"),
            Self::Underflow => write!(f, "value out of range: underflow"),
        }
    }
}

/// 1..=16000 dimensions.
pub fn check_dims(len: usize) -> Result<(), EmbeddingError> {
    match len {
        0 => Err(EmbeddingError::Empty),
        n if n > MAX_DIM => Err(EmbeddingError::TooManyDims),
        _ => Ok(()),
    }
}

pub fn check_finite(values: &[f32]) -> Result<(), EmbeddingError> {
    match values.iter().find(|x| !x.is_finite()) {
        Some(x) => Err(EmbeddingError::NotFinite(*x)),
        None => Ok(()),
    }
}

/// A typmod of -1 means "any dimension"; otherwise it is the dimension itself.
pub fn check_typmod(len: usize, typmod: i32) -> Result<(), EmbeddingError> {
    if typmod >= 0 && len != typmod as usize {
        return Err(EmbeddingError::DimMismatch { expected: typmod as usize, got: len });
    }
    Ok(())
}

/// Binary operations need operands of one dimension.
pub fn check_same_dims(a: &[f32], b: &[f32]) -> Result<(), EmbeddingError> {
    if a.len() != b.len() {
        return Err(EmbeddingError::DifferentDims(a.len(), b.len()));
    }
    Ok(())
}

/// Everything a value must satisfy, in pgvector's order (so that a value with several
/// faults gets pgvector's message): the number of dimensions, the type modifier, then
/// the values themselves.
pub fn check_all(values: &[f32], typmod: i32) -> Result<(), EmbeddingError> {
    check_dims(values.len())?;
    check_typmod(values.len(), typmod)?;
    check_finite(values)
}

/// The whitespace Postgres' own array and vector parsers skip (C's isspace in the C locale).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn skip_space(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && is_space(bytes[pos]) {
        pos += 1;
    }
    pos
}

fn digits_end(bytes: &[u8], mut pos: usize) -> usize {
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    pos
}

fn starts_with_word(bytes: &[u8], pos: usize, word: &str) -> bool {
    bytes.len() >= pos + word.len() && bytes[pos..pos + word.len()].eq_ignore_ascii_case(word.as_bytes())
}

/// Where the number starting at `start` ends, reading what C's strtof reads (pgvector
/// parses with strtof): an optional sign, then `inf`, `infinity` or `nan` in any case, or
/// decimal digits with an optional point and an optional exponent. `start` itself when
/// no number starts there.
fn number_end(bytes: &[u8], start: usize) -> usize {
    let mut pos = start;
    if pos < bytes.len() && (bytes[pos] == b'+' || bytes[pos] == b'-') {
        pos += 1;
    }
    for word in ["infinity", "inf", "nan"] {
        if starts_with_word(bytes, pos, word) {
            return pos + word.len();
        }
    }
    let int_end = digits_end(bytes, pos);
    let mut end = int_end;
    let mut has_digits = int_end > pos;
    if end < bytes.len() && bytes[end] == b'.' {
        let frac_end = digits_end(bytes, end + 1);
        has_digits |= frac_end > end + 1;
        end = frac_end;
    }
    if !has_digits {
        return start;
    }
    // An exponent counts only when digits follow: "1e" reads as 1 followed by junk.
    if end < bytes.len() && (bytes[end] == b'e' || bytes[end] == b'E') {
        let mut exp = end + 1;
        if exp < bytes.len() && (bytes[exp] == b'+' || bytes[exp] == b'-') {
            exp += 1;
        }
        let exp_end = digits_end(bytes, exp);
        if exp_end > exp {
            end = exp_end;
        }
    }
    end
}

/// One number of an embedding literal: a finite float4 or the reason it is not one.
fn parse_number(token: &str) -> Result<f32, EmbeddingError> {
    // Rust reads the same grammar as number_end (it accepts "1.", ".5", "inf", "NaN"),
    // rounding correctly to the nearest float4 like strtof.
    let value: f32 = token.parse().map_err(|_| EmbeddingError::syntax(token, None))?;
    let written_as_infinity = token.bytes().any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E');
    if value.is_infinite() && !written_as_infinity {
        return Err(EmbeddingError::OutOfRange(token.to_string()));
    }
    check_finite(&[value])?;
    Ok(value)
}

/// Parses `[1, 2.5, -3e-2]` as pgvector does: whitespace around brackets, commas and
/// numbers is allowed, anything else is an error naming the whole literal.
pub fn parse_text(text: &str) -> Result<Vec<f32>, EmbeddingError> {
    let bytes = text.as_bytes();
    let mut pos = skip_space(bytes, 0);
    if bytes.get(pos) != Some(&b'[') {
        return Err(EmbeddingError::syntax(text, Some(DETAIL_MUST_START)));
    }
    pos = skip_space(bytes, pos + 1);
    if bytes.get(pos) == Some(&b']') {
        return Err(EmbeddingError::Empty);
    }
    let mut values = Vec::new();
    loop {
        if values.len() == MAX_DIM {
            return Err(EmbeddingError::TooManyDims);
        }
        pos = skip_space(bytes, pos);
        let end = number_end(bytes, pos);
        if end == pos {
            return Err(EmbeddingError::syntax(text, None));
        }
        values.push(parse_number(&text[pos..end]).map_err(|e| match e {
            EmbeddingError::Syntax { .. } => EmbeddingError::syntax(text, None),
            other => other,
        })?);
        pos = skip_space(bytes, end);
        match bytes.get(pos) {
            Some(b',') => pos += 1,
            Some(b']') => {
                pos += 1;
                break;
            }
            _ => return Err(EmbeddingError::syntax(text, None)),
        }
    }
    if skip_space(bytes, pos) != bytes.len() {
        return Err(EmbeddingError::syntax(text, Some(DETAIL_JUNK)));
    }
    Ok(values)
}

pub fn format_text(values: &[f32]) -> String {
    let mut out = String::with_capacity(values.len() * 10 + 2);
    out.push('[');
    for (i, x) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        super::shortest::write_float4(*x, &mut out);
    }
    out.push(']');
    out
}

/// pgvector's wire format: int16 dim, int16 unused (0), then float4 values, all network order.
pub fn to_wire(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * values.len());
    out.extend_from_slice(&(values.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for x in values {
        out.extend_from_slice(&x.to_be_bytes());
    }
    out
}

pub fn from_wire(bytes: &[u8]) -> Result<Vec<f32>, String> {
    if bytes.len() < 4 {
        return Err("embedding binary value is too short".into());
    }
    let dim = i16::from_be_bytes([bytes[0], bytes[1]]);
    let unused = i16::from_be_bytes([bytes[2], bytes[3]]);
    if unused != 0 {
        return Err("expected unused to be 0, not {unused}".replace("{unused}", &unused.to_string()));
    }
    if dim < 1 || dim as usize > MAX_DIM {
        return Err(format!("embedding dimension {dim} out of range 1..{MAX_DIM}"));
    }
    let body = &bytes[4..];
    if body.len() != 4 * dim as usize {
        return Err(format!("embedding binary value has {} bytes for {dim} dimensions", body.len()));
    }
    Ok(body.chunks_exact(4).map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax(text: &str, detail: Option<&'static str>) -> Result<Vec<f32>, EmbeddingError> {
        Err(EmbeddingError::Syntax { text: text.to_string(), detail })
    }

    #[test]
    fn text_round_trip_uses_short_forms() {
        let v = parse_text(" [1, 2.5 ,-3e-2] ").unwrap();
        assert_eq!(v, vec![1.0, 2.5, -0.03]);
        assert_eq!(format_text(&v), "[1,2.5,-0.03]");
        assert_eq!(parse_text(&format_text(&[0.1, 1.0 / 3.0])).unwrap(), vec![0.1, 1.0 / 3.0]);
        assert_eq!(parse_text("[1.,2.,.5,+4]").unwrap(), vec![1.0, 2.0, 0.5, 4.0]);
        assert_eq!(parse_text("\t[\n1\r,\x0b2\x0c]\n").unwrap(), vec![1.0, 2.0]);
    }

    #[test]
    fn output_is_float4outs() {
        assert_eq!(
            format_text(&[1.5e38, -1.5e-38, 1e-7, 0.0, -0.0, 123456.0, 1e6]),
            "[1.5e+38,-1.5e-38,1e-07,0,-0,123456,1e+06]"
        );
    }

    #[test]
    fn bad_text_gets_pgvectors_message_and_detail() {
        for text in
            ["[1,2,3", "[", "[ ", "[,", "[,]", "[1,]", "[1a]", "[1,,3]", "[1, ,3]", "[hello,1]", "[1 2]", "[1e]"]
        {
            assert_eq!(parse_text(text), syntax(text, None), "{text}");
        }
        assert_eq!(parse_text("1,2,3"), syntax("1,2,3", Some(DETAIL_MUST_START)));
        assert_eq!(parse_text(""), syntax("", Some(DETAIL_MUST_START)));
        assert_eq!(parse_text("[1,2,3]9"), syntax("[1,2,3]9", Some(DETAIL_JUNK)));
        assert_eq!(parse_text("[]"), Err(EmbeddingError::Empty));
        assert_eq!(parse_text("[ ]"), Err(EmbeddingError::Empty));
        assert_eq!(
            EmbeddingError::Syntax { text: "x".into(), detail: Some(DETAIL_JUNK) }.detail(),
            Some("Junk after closing right brace.")
        );
    }

    #[test]
    fn non_finite_and_out_of_range_numbers_are_told_apart() {
        assert!(matches!(parse_text("[1,NaN]"), Err(EmbeddingError::NotFinite(x)) if x.is_nan()));
        assert!(matches!(parse_text("[-Infinity,1]"), Err(EmbeddingError::NotFinite(_))));
        assert!(matches!(parse_text("[inf]"), Err(EmbeddingError::NotFinite(_))));
        assert_eq!(parse_text("[4e38,1]"), Err(EmbeddingError::OutOfRange("4e38".into())));
        assert_eq!(parse_text("[1, -4e38 ]"), Err(EmbeddingError::OutOfRange("-4e38".into())));
        assert_eq!(
            EmbeddingError::OutOfRange("4e38".into()).to_string(),
            "\"4e38\" is out of range for type embedding"
        );
        // Underflow is not an error: it rounds to (signed) zero, as strtof does.
        let tiny = parse_text("[1e-46,-1e-46]").unwrap();
        assert_eq!(format_text(&tiny), "[0,-0]");
    }

    #[test]
    fn dimension_limits() {
        let ones = |n: usize| format!("[{}]", vec!["1"; n].join(","));
        assert_eq!(parse_text(&ones(MAX_DIM)).unwrap().len(), MAX_DIM);
        assert_eq!(parse_text(&ones(MAX_DIM + 1)), Err(EmbeddingError::TooManyDims));
        assert_eq!(EmbeddingError::TooManyDims.to_string(), "embedding cannot have more than 16000 dimensions");
        assert_eq!(check_typmod(3, 128).unwrap_err().to_string(), "expected 128 dimensions, not 3");
        // pgvector's order: dimensions, then the type modifier, then the values.
        assert_eq!(check_all(&[f32::NAN, 1.0, 2.0], 2), Err(EmbeddingError::DimMismatch { expected: 2, got: 3 }));
        assert_eq!(check_all(&[], 2), Err(EmbeddingError::Empty));
        assert!(matches!(check_all(&[f32::INFINITY], 1), Err(EmbeddingError::NotFinite(_))));
    }

    #[test]
    fn wire_format_is_pgvectors() {
        let bytes = to_wire(&[1.0, -2.0]);
        assert_eq!(bytes, vec![0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]);
        assert_eq!(from_wire(&bytes).unwrap(), vec![1.0, -2.0]);
        assert!(from_wire(&bytes[..7]).is_err());
        assert!(from_wire(&[0, 1, 0, 1, 0, 0, 0, 0]).is_err());
    }
}
