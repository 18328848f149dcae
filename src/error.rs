//! One error type for the SQL-facing layer. Each kind maps to the SQLSTATE a
//! Postgres user (or driver) would expect, and `raise` turns it into an ERROR.
//! The plain-Rust engine returns `Result<_, String>` (or its own error enums);
//! the Postgres layer wraps those messages in the kind that fits the caller's view.
use pgrx::prelude::*;
use pgrx::spi::SpiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument or option out of range: 22023.
    #[error("{0}")]
    InvalidParameter(String),
    /// A model, table or column that does not exist: 42704.
    #[error("{0}")]
    UndefinedObject(String),
    /// A model that already exists: 42710.
    #[error("{0}")]
    DuplicateObject(String),
    /// An image that cannot be read or decoded, or bad data in a row: 22000.
    #[error("{0}")]
    BadData(String),
    /// ONNX Runtime failed to load or run a graph: 38000.
    #[error("{0}")]
    Runtime(String),
    /// The caller lacks a privilege: 42501.
    #[error("{0}")]
    PermissionDenied(String),
    /// An object of the wrong kind (a view where a table is needed): 42809.
    #[error("{0}")]
    WrongObjectType(String),
    /// Something the extension does not support (yet): 0A000.
    #[error("{0}")]
    NotSupported(String),
    /// A query or statement Postgres itself refused, passed through: XX000.
    #[error("{0}")]
    Spi(#[from] SpiError),
    /// Any other SQLSTATE, for the few places that need one of their own.
    #[error("{1}")]
    Other(PgSqlErrorCode, String),
}

impl Error {
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            Error::InvalidParameter(_) => ERRCODE_INVALID_PARAMETER_VALUE,
            Error::UndefinedObject(_) => ERRCODE_UNDEFINED_OBJECT,
            Error::DuplicateObject(_) => ERRCODE_DUPLICATE_OBJECT,
            Error::BadData(_) => ERRCODE_DATA_EXCEPTION,
            Error::Runtime(_) => ERRCODE_EXTERNAL_ROUTINE_EXCEPTION,
            Error::PermissionDenied(_) => ERRCODE_INSUFFICIENT_PRIVILEGE,
            Error::WrongObjectType(_) => ERRCODE_WRONG_OBJECT_TYPE,
            Error::NotSupported(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
            Error::Spi(_) => ERRCODE_INTERNAL_ERROR,
            Error::Other(code, _) => *code,
        }
    }

    /// Raises this error as a Postgres ERROR; never returns.
    pub fn raise(self) -> ! {
        raise_error(self.sqlstate(), self.to_string())
    }
}

/// Raises a Postgres ERROR with the given SQLSTATE; never returns.
#[allow(unreachable_code)]
pub fn raise_error(code: PgSqlErrorCode, message: impl Into<String>) -> ! {
    let message: String = message.into();
    ereport!(ERROR, code, message);
    unreachable!()
}

/// Raises a Postgres ERROR with the given SQLSTATE and a DETAIL line; never returns.
#[allow(unreachable_code)]
pub fn raise_error_with_detail(code: PgSqlErrorCode, message: impl Into<String>, detail: impl Into<String>) -> ! {
    let (message, detail): (String, String) = (message.into(), detail.into());
    ereport!(ERROR, code, message, detail);
    unreachable!()
}

/// `result.or_raise()`: the value, or the error raised as a Postgres ERROR.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T, E: Into<Error>> OrRaise<T> for Result<T, E> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| e.into().raise())
    }
}

/// Shorthands for the common kinds.
pub fn invalid(message: impl Into<String>) -> ! {
    Error::InvalidParameter(message.into()).raise()
}

pub fn bad_data(message: impl Into<String>) -> ! {
    Error::BadData(message.into()).raise()
}

pub fn runtime(message: impl Into<String>) -> ! {
    Error::Runtime(message.into()).raise()
}
