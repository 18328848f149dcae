//! The `embedding` type's own functions: text input/output with the typmod check,
//! the typmod itself, and pgvector's binary send/receive, then the type.
use super::raise;
use super::text::{format_text, from_wire, parse_text, to_wire, EmbeddingError, MAX_DIM};
use super::Embedding;
use pgrx::prelude::*;
use std::ffi::{CStr, CString};

extension_sql!(
    "CREATE TYPE embedding; -- shell, completed below once its I/O functions exist\n",
    name = "embedding_shell",
    bootstrap
);

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_in(input: &CStr, _oid: pg_sys::Oid, typmod: i32) -> Embedding {
    let text = input.to_str().unwrap_or_else(|_| raise(EmbeddingError::Syntax("<not utf-8>".into())));
    let values = parse_text(text).unwrap_or_else(|e| raise(e));
    Embedding::checked(values, typmod)
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_out(value: Embedding) -> CString {
    CString::new(format_text(&value.0)).unwrap()
}

#[pg_extern(immutable, strict, parallel_safe, requires = ["embedding_shell"])]
fn embedding_typmod_in(list: pgrx::datum::Array<&CStr>) -> i32 {
    let mods: Vec<Option<&CStr>> = list.iter().collect();
    if mods.len() != 1 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "invalid type modifier: embedding takes one dimension"
        );
    }
    let dim = mods[0].and_then(|m| m.to_str().ok()).and_then(|m| m.parse::<i64>().ok()).unwrap_or(-1);
    if dim < 1 {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            "dimensions for type embedding must be at least 1"
        );
    }
    if dim as usize > MAX_DIM {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("dimensions for type embedding cannot exceed {MAX_DIM}")
        );
    }
    dim as i32
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
fn embedding_send(value: Embedding) -> Vec<u8> {
    to_wire(&value.0)
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
