//! Name and path rules of OneDrive / SharePoint (contract §2.3).

use crate::errors::GraphError;

/// Longest whole decoded path (contract §2.3: "≤ 400 characters").
pub const MAX_PATH_CHARS: usize = 400;

const INVALID_CHARS: &[char] = &['"', '*', ':', '<', '>', '?', '/', '\\', '|'];

/// Checks one item name. `at_library_root` is true when the item is created
/// directly in the root of a SharePoint document library (`forms` folder).
pub fn validate_name(name: &str, is_folder: bool, at_library_root: bool) -> Result<(), GraphError> {
    let bad = |why: &str| {
        Err(
            GraphError::bad_request(format!("The provided name is not valid: {why}"))
                .inner("invalidPath"),
        )
    };
    if name.is_empty() {
        return bad("the name is empty");
    }
    if name.chars().any(|c| INVALID_CHARS.contains(&c)) {
        return bad("it contains one of \" * : < > ? / \\ |");
    }
    if name.chars().any(|c| c.is_control()) {
        // Newlines break path look-ups (contract §2.3, abr#35).
        return bad("it contains a control character");
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return bad("it starts or ends with a space");
    }
    if name.ends_with('.') {
        return bad("it ends with a period");
    }
    let lower = name.to_lowercase();
    if lower == ".lock" || lower == "desktop.ini" {
        return bad("the name is reserved");
    }
    // Device names, also with an extension (CON.txt).
    let stem = lower.split('.').next().unwrap_or("");
    let reserved_device = matches!(stem, "con" | "prn" | "aux" | "nul")
        || ((stem.starts_with("com") || stem.starts_with("lpt"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved_device {
        return bad("the name is a reserved device name");
    }
    if lower.starts_with("~$") {
        return bad("names starting with ~$ are reserved");
    }
    if lower.contains("_vti_") {
        return bad("names containing _vti_ are reserved");
    }
    if is_folder && at_library_root && lower == "forms" {
        return bad("'forms' is reserved at the root of a document library");
    }
    Ok(())
}

/// Checks the whole decoded path from the drive root (`a/b/c`, no leading
/// slash) against the 400-character limit.
pub fn validate_path_len(path: &str) -> Result<(), GraphError> {
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(GraphError::bad_request(format!(
            "The path is too long: {} characters, at most {MAX_PATH_CHARS} are allowed",
            path.chars().count()
        ))
        .inner("pathIsTooLong"));
    }
    Ok(())
}

/// The name `conflictBehavior=rename` picks: "Backups 1", "db 1.json".
pub fn numbered(name: &str, n: u32, is_folder: bool) -> String {
    if !is_folder && let Some(dot) = name.rfind('.').filter(|&d| d > 0) {
        return format!("{} {n}{}", &name[..dot], &name[dot..]);
    }
    format!("{name} {n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "db.json", "Backups", "a b", "con-tent", "com10", "~file", "#1 %2",
        ] {
            assert!(validate_name(ok, false, false).is_ok(), "{ok}");
        }
        for bad in [
            "a:b",
            "a*b",
            "a?b",
            "a|b",
            "a\"b",
            "a<b",
            "a>b",
            "a\\b",
            " a",
            "a ",
            "a.",
            ".lock",
            "CON",
            "con.txt",
            "Lpt1",
            "COM0.log",
            "desktop.ini",
            "~$doc",
            "x_vti_y",
            "a\nb",
            "",
        ] {
            assert!(validate_name(bad, false, false).is_err(), "{bad:?}");
        }
        assert!(validate_name("forms", true, true).is_err());
        assert!(validate_name("forms", true, false).is_ok());
    }

    #[test]
    fn renames() {
        assert_eq!(numbered("db.json", 1, false), "db 1.json");
        assert_eq!(numbered("Backups", 2, true), "Backups 2");
        assert_eq!(numbered("v1.0", 1, true), "v1.0 1");
        assert_eq!(numbered(".env", 1, false), ".env 1");
    }

    #[test]
    fn path_len() {
        assert!(validate_path_len(&"a".repeat(400)).is_ok());
        assert!(validate_path_len(&"é".repeat(401)).is_err());
    }
}
