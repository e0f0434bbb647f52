//! Errors as they cross into the UI: `{code, message}`, with a closed set of
//! codes the UI branches on and a message that says what happened and what
//! to do (the engine's own words).

use serde::Serialize;

/// The codes the UI branches on. Anything else the engine reports is
/// `failed`, with its message.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    SignInRequired,
    SignInDeclined,
    SignInExpired,
    Cancelled,
    KeychainUnavailable,
    Offline,
    Throttled,
    DestinationFull,
    DestinationUnavailable,
    InvalidBackup,
    SourceUnavailable,
    NotFound,
    InvalidInput,
    Busy,
    DiskFull,
    Failed,
}

impl ErrorCode {
    /// Maps an engine or Graph code (`Error::code()`) into the closed set.
    pub fn from_engine(code: &str) -> ErrorCode {
        match code {
            "sign_in_required" => ErrorCode::SignInRequired,
            "sign_in_declined" => ErrorCode::SignInDeclined,
            "sign_in_expired" => ErrorCode::SignInExpired,
            "cancelled" => ErrorCode::Cancelled,
            "keychain_unavailable" => ErrorCode::KeychainUnavailable,
            "offline" => ErrorCode::Offline,
            "throttled" => ErrorCode::Throttled,
            "destination_full" => ErrorCode::DestinationFull,
            "destination_unavailable" | "access_denied" => ErrorCode::DestinationUnavailable,
            "invalid_backup" => ErrorCode::InvalidBackup,
            "source_unavailable" => ErrorCode::SourceUnavailable,
            "not_found" => ErrorCode::NotFound,
            "invalid_input" => ErrorCode::InvalidInput,
            "busy" => ErrorCode::Busy,
            "disk_full" => ErrorCode::DiskFull,
            _ => ErrorCode::Failed,
        }
    }
}

/// The error every command returns.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, thiserror::Error)]
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
        AppError::new(
            ErrorCode::from_engine(e.code()),
            capitalized(&e.to_string()),
        )
    }
}

pub type CmdResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_and_graph_code_has_a_ui_code() {
        // The Graph codes all map to something the UI branches on or to
        // `failed`, never panic, and the common ones keep their meaning.
        for code in nuage_graph::GraphError::CODES {
            let mapped = ErrorCode::from_engine(code);
            let json = serde_json::to_value(mapped).unwrap();
            assert!(json.is_string());
        }
        assert_eq!(
            ErrorCode::from_engine("sign_in_required"),
            ErrorCode::SignInRequired
        );
        assert_eq!(ErrorCode::from_engine("io"), ErrorCode::Failed);
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
