//! The `embedding` type's own functions: text input/output with the typmod check,
//! the typmod itself, and pgvector's binary send/receive, then the type.
use super::raise;
use super::text::{format_text, from_wire, parse_text, to_wire, EmbeddingError, MAX_DIM};
use super::{Embedding, EmbeddingRef};
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

extension_sql!(
    "CREATE TYPE embedding; -- shell, completed below once its I/O functions exist\n",
    name = "embedding_shell",
    bootstrap
);

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_in(input: &CStr, _oid: pg_sys::Oid, typmod: i32) -> Embedding {
    // The server encoding need not be UTF-8; a literal that is not cannot be valid anyway.
    let text = input
        .to_str()
        .unwrap_or_else(|_| raise(EmbeddingError::Syntax { text: input.to_string_lossy().into_owned(), detail: None }));
    let values = parse_text(text).unwrap_or_else(|e| raise(e));
    Embedding::checked(values, typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_out(value: EmbeddingRef) -> CString {
    CString::new(format_text(&value)).unwrap()
}

/// Why a type modifier list is not one dimension in 1..16000 (pgvector's messages).
pub fn typmod_dimension(mods: &[i32]) -> Result<i32, &'static str> {
    match mods {
        [dim] if *dim < 1 => Err("dimensions for type embedding must be at least 1"),
        [dim] if *dim as usize > MAX_DIM => Err("dimensions for type embedding cannot exceed 16000"),
        [dim] => Ok(*dim),
        _ => Err("invalid type modifier"),
    }
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_typmod_in(list: pgrx::datum::Array<&CStr>) -> i32 {
    // Postgres' own reader of integer typmods, so that `embedding('a')` fails as
    // `varchar('a')` does ("invalid input syntax for type integer").
    // SAFETY: `list` is the non-null cstring[] Postgres passes to a typmod_in function;
    // ArrayGetIntegerTypmods returns a palloc'd array of `count` int32s (or raises).
    let mods = unsafe {
        let mut count = 0;
        let mods = pg_sys::ArrayGetIntegerTypmods(list.into_array_type() as *mut _, &mut count);
        std::slice::from_raw_parts(mods, count as usize).to_vec()
    };
    typmod_dimension(&mods).unwrap_or_else(|message| crate::error::invalid(message))
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_typmod_out(typmod: i32) -> CString {
    CString::new(if typmod < 0 { String::new() } else { format!("({typmod})") }).unwrap()
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_recv(mut buf: pgrx::datum::Internal, _oid: pg_sys::Oid, typmod: i32) -> Embedding {
    // SAFETY: Postgres passes a StringInfo positioned at the value to a type's receive function.
    let values = unsafe {
        let si = buf.get_mut::<pg_sys::StringInfoData>().unwrap();
        let remaining = (si.len - si.cursor) as usize;
        let bytes = std::slice::from_raw_parts((si.data as *const u8).add(si.cursor as usize), remaining);
        let parsed = from_wire(bytes);
        si.cursor = si.len;
        parsed
    };
    let values = values
        .unwrap_or_else(|msg| crate::error::raise_error(PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION, msg));
    Embedding::checked(values, typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_send(value: EmbeddingRef) -> Vec<u8> {
    to_wire(&value)
}

extension_sql!(
    r#"
CREATE TYPE embedding (
    INPUT = embedding_in,
    OUTPUT = embedding_out,
    TYPMOD_IN = embedding_typmod_in,
    TYPMOD_OUT = embedding_typmod_out,
    RECEIVE = embedding_recv,
    SEND = embedding_send,
    STORAGE = external
);
COMMENT ON TYPE embedding IS 'float4 vector, byte-compatible with pgvector''s vector';
"#,
    name = "embedding_type",
    creates = [Type(Embedding)],
    requires = [
        "embedding_shell",
        embedding_in,
        embedding_out,
        embedding_typmod_in,
        embedding_typmod_out,
        embedding_recv,
        embedding_send
    ]
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typmod_is_one_dimension_in_range() {
        assert_eq!(typmod_dimension(&[3]), Ok(3));
        assert_eq!(typmod_dimension(&[16000]), Ok(16000));
        assert_eq!(typmod_dimension(&[3, 2]), Err("invalid type modifier"));
        assert_eq!(typmod_dimension(&[]), Err("invalid type modifier"));
        assert_eq!(typmod_dimension(&[0]), Err("dimensions for type embedding must be at least 1"));
        assert_eq!(typmod_dimension(&[16001]), Err("dimensions for type embedding cannot exceed 16000"));
    }
}
