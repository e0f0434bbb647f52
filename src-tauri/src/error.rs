//! Errors as they cross into the UI: `{code, message}`, with the engine's
//! closed set of codes the UI branches on and a message that says what
//! happened and what to do (the engine's own words).

use serde::Serialize;

/// The one code vocabulary, the engine's (its TypeScript type is generated
/// from it with the others: `ui/src/bindings.ts`).
pub use nuage_engine::ErrorCode;

/// The error every command returns.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, thiserror::Error, ts_rs::TS)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::InvalidInput, message)
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl From<nuage_engine::Error> for AppError {
    fn from(e: nuage_engine::Error) -> AppError {
        AppError::new(e.code(), capitalized(&e.to_string()))
    }
}

pub type CmdResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_crosses_as_its_stable_name() {
        for code in ErrorCode::ALL {
            let e = AppError::new(code, "m");
            let v = serde_json::to_value(&e).unwrap();
            assert_eq!(v["code"], code.as_str());
        }
    }

    #[test]
    fn engine_errors_cross_as_code_and_message() {
        let e = nuage_engine::Error::Invalid("'x y' cannot name a source".into());
        let v = serde_json::to_value(AppError::from(e)).unwrap();
        assert_eq!(v["code"], "invalid_input");
        assert_eq!(v["message"], "'x y' cannot name a source");
        assert_eq!(v.as_object().unwrap().len(), 2);
    }
}
