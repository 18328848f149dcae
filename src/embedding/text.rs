//! The embedding's values as plain Rust: checks, the text form `[1,2,3]` and
//! pgvector's binary wire format. No Postgres here; `super` raises the errors.

/// The most dimensions an embedding may have (pgvector's limit).
pub const MAX_DIM: usize = 16000;

/// Why a value cannot be an embedding; turned into a Postgres ERROR at the SQL edge.
#[derive(Debug, PartialEq)]
pub enum EmbeddingError {
    Syntax(String),
    Empty,
    TooManyDims(usize),
    NotFinite(f32),
    DimMismatch { expected: usize, got: usize },
}

impl std::fmt::Display for EmbeddingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Syntax(text) => write!(f, "invalid input syntax for type embedding: \"{text}\""),
            Self::Empty => write!(f, "embedding must have at least 1 dimension"),
            Self::TooManyDims(n) => write!(f, "embedding cannot have more than {MAX_DIM} dimensions, not {n}"),
            Self::NotFinite(x) if x.is_nan() => write!(f, "NaN not allowed in embedding"),
            Self::NotFinite(_) => write!(f, "infinite value not allowed in embedding"),
            Self::DimMismatch { expected, got } => write!(f, "expected {expected} dimensions, not {got}"),
        }
    }
}

pub fn check_values(values: &[f32]) -> Result<(), EmbeddingError> {
    if values.is_empty() {
        return Err(EmbeddingError::Empty);
    }
    if values.len() > MAX_DIM {
        return Err(EmbeddingError::TooManyDims(values.len()));
    }
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

/// Parses `[1, 2.5, -3e-2]`; whitespace is allowed around brackets and commas.
pub fn parse_text(text: &str) -> Result<Vec<f32>, EmbeddingError> {
    let syntax = || EmbeddingError::Syntax(text.to_string());
    let inner = text.trim().strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or_else(syntax)?;
    if inner.trim().is_empty() {
        return Err(EmbeddingError::Empty);
    }
    let values = inner
        .split(',')
        .map(|item| item.trim().parse::<f32>().map_err(|_| syntax()))
        .collect::<Result<Vec<f32>, _>>()?;
    check_values(&values)?;
    Ok(values)
}

/// Shortest text that reads back to the same float4, like Postgres' float4out.
fn format_value(x: f32, out: &mut String) {
    use std::fmt::Write;
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        write!(out, "{x:e}").unwrap();
    } else {
        write!(out, "{x}").unwrap();
    }
}

pub fn format_text(values: &[f32]) -> String {
    let mut out = String::with_capacity(values.len() * 10 + 2);
    out.push('[');
    for (i, x) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        format_value(*x, &mut out);
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

    #[test]
    fn text_round_trip_uses_short_forms() {
        let v = parse_text(" [1, 2.5 ,-3e-2] ").unwrap();
        assert_eq!(v, vec![1.0, 2.5, -0.03]);
        assert_eq!(format_text(&v), "[1,2.5,-0.03]");
        assert_eq!(format_text(&[1e-30, 3e20]), "[1e-30,3e20]");
        assert_eq!(parse_text(&format_text(&[0.1, 1.0 / 3.0])).unwrap(), vec![0.1, 1.0 / 3.0]);
    }

    #[test]
    fn bad_text_is_rejected_with_the_reason() {
        assert_eq!(parse_text("[]"), Err(EmbeddingError::Empty));
        assert!(matches!(parse_text("1,2"), Err(EmbeddingError::Syntax(_))));
        assert!(matches!(parse_text("[1,,2]"), Err(EmbeddingError::Syntax(_))));
        assert!(matches!(parse_text("[1,NaN]"), Err(EmbeddingError::NotFinite(_))));
        assert!(matches!(parse_text("[inf]"), Err(EmbeddingError::NotFinite(_))));
        assert_eq!(check_typmod(3, 128).unwrap_err().to_string(), "expected 128 dimensions, not 3");
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
