//! Names and addresses: sharing-link encoding (contract §3.9.1), path-segment
//! percent-encoding and the OneDrive/SharePoint naming rules (contract §2.3),
//! checked locally so a bad name fails with a message a person can act on
//! instead of an opaque 400 half-way through a run.

use base64::Engine as _;

/// Longest decoded path OneDrive and SharePoint accept (contract §2.3).
pub const MAX_PATH_LEN: usize = 400;

/// Longest single name Nuage accepts. Not in the contract: the 400 limit is
/// the only one Microsoft states for the service, but Windows (and so the
/// OneDrive sync client on it) cannot hold a longer file name, and no name
/// Nuage creates comes near it.
pub const MAX_NAME_LEN: usize = 255;

/// Characters OneDrive refuses anywhere in a name.
pub const INVALID_CHARS: &[char] = &['"', '*', ':', '<', '>', '?', '/', '\\', '|'];

/// Device names refused in any case, also with an extension (`CON.txt`).
const DEVICE_NAMES: &[&str] = &["con", "prn", "aux", "nul"];

/// Names refused in any case, exactly.
const RESERVED_EXACT: &[&str] = &[".lock", "desktop.ini"];

/// Why a name or path would be refused by OneDrive/SharePoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a file or folder name cannot be empty. Give it a name.")]
    Empty,

    #[error(
        "the name '{name}' contains '{ch}', which OneDrive does not allow in names (\" * : < > ? / \\ |). Remove or replace that character."
    )]
    InvalidCharacter { name: String, ch: char },

    #[error(
        "the name {name:?} contains a control character (such as a line break or tab), which OneDrive cannot handle. Remove it from the name."
    )]
    ControlCharacter { name: String },

    #[error(
        "the name '{name}' starts or ends with a space, which OneDrive does not allow. Remove the space."
    )]
    LeadingOrTrailingSpace { name: String },

    #[error(
        "the name '{name}' ends with a dot, which OneDrive does not allow. Remove the final dot."
    )]
    TrailingDot { name: String },

    #[error(
        "'{name}' is a reserved name in OneDrive (CON, PRN, AUX, NUL, COM0–COM9 and LPT0–LPT9, also with an extension, and .lock and desktop.ini, in any case). Choose another name."
    )]
    Reserved { name: String },

    #[error(
        "the name '{name}' starts with '~$', which OneDrive reserves for Office temporary files. Choose another name."
    )]
    OfficeTempPrefix { name: String },

    #[error(
        "the name '{name}' contains '_vti_', which SharePoint reserves. Choose a name without it."
    )]
    ContainsVti { name: String },

    #[error(
        "'forms' cannot be used as a folder name at the top of a SharePoint document library. Choose another name, or put it inside another folder."
    )]
    ReservedAtLibraryRoot { name: String },

    #[error(
        "the name '{name}…' is {len} characters long; names can have at most {max}. Choose a shorter name."
    )]
    NameTooLong {
        name: String,
        len: usize,
        max: usize,
    },

    #[error("the path '{path}' contains an empty folder name ('//'). Remove the extra '/'.")]
    EmptySegment { path: String },

    #[error(
        "the path is {len} characters long; OneDrive allows at most {max}. Choose a destination with a shorter path or shorter folder names."
    )]
    PathTooLong { len: usize, max: usize },
}

/// The `shareId` for `GET /shares/{shareId}` from a sharing URL:
/// `"u!"` + base64url of its UTF-8 bytes, `=` padding removed
/// (contract §3.9.1). Surrounding whitespace (as pasted) is ignored.
pub fn encode_share_link(url: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url.trim().as_bytes());
    format!("u!{b64}")
}

/// Percent-encodes one path segment for `root:/{path}:` addressing
/// (RFC 3986 §3.3 `segment`, contract §2.3). Left as is: unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`), sub-delimiters (`! $ & ' ( ) * + , ; =`;
/// so `+` stays a literal plus) and `@`. Everything else is encoded as
/// UTF-8 bytes, including space (`%20`), `%`, `#`, `?`, `/` and `:` (Graph's
/// path delimiter, which RFC 3986 would allow in a segment).
pub fn encode_path_segment(name: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(name.len());
    for &b in name.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'@'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xF)] as char);
        }
    }
    out
}

/// Encodes every segment of a `/`-separated path (leading and trailing `/`
/// dropped), for `/me/drive/root:/{path}:`.
pub fn encode_path(path: &str) -> String {
    path.trim_matches('/')
        .split('/')
        .map(encode_path_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// Length as the service counts it. UTF-16 code units: at least the number
/// of characters, so a path that passes here is not too long for a service
/// that counts characters either.
fn service_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Checks one file or folder name against the OneDrive/SharePoint rules
/// (contract §2.3). Names are compared case-insensitively, like the service.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    let owned = || name.to_owned();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let len = service_len(name);
    if len > MAX_NAME_LEN {
        let shown: String = name.chars().take(40).collect();
        return Err(NameError::NameTooLong {
            name: shown,
            len,
            max: MAX_NAME_LEN,
        });
    }
    if let Some(ch) = name.chars().find(|c| INVALID_CHARS.contains(c)) {
        return Err(NameError::InvalidCharacter { name: owned(), ch });
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::ControlCharacter { name: owned() });
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err(NameError::LeadingOrTrailingSpace { name: owned() });
    }
    if name.ends_with('.') {
        return Err(NameError::TrailingDot { name: owned() });
    }
    let lower = name.to_lowercase();
    if is_reserved(&lower) {
        return Err(NameError::Reserved { name: owned() });
    }
    if lower.starts_with("~$") {
        return Err(NameError::OfficeTempPrefix { name: owned() });
    }
    if lower.contains("_vti_") {
        return Err(NameError::ContainsVti { name: owned() });
    }
    Ok(())
}

/// `lower` is already lower-cased.
fn is_reserved(lower: &str) -> bool {
    if RESERVED_EXACT.contains(&lower) {
        return true;
    }
    // The part before the first dot: `con.txt` and `con.tar.gz` are `con`.
    let stem = lower.split('.').next().unwrap_or(lower);
    if DEVICE_NAMES.contains(&stem) {
        return true;
    }
    let b = stem.as_bytes();
    b.len() == 4 && (stem.starts_with("com") || stem.starts_with("lpt")) && b[3].is_ascii_digit()
}

/// Checks a path relative to the drive root (`Backups/Nuage/db.json`; one
/// leading and one trailing `/` are tolerated; empty = the root): at most
/// [`MAX_PATH_LEN`] characters as written (decoded, not percent-encoded), and
/// every segment a valid name. The service may count a longer prefix (a
/// SharePoint site and library), so passing is necessary, not sufficient.
pub fn validate_path(path: &str) -> Result<(), NameError> {
    let inner = path.strip_prefix('/').unwrap_or(path);
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    let len = service_len(inner);
    if len > MAX_PATH_LEN {
        return Err(NameError::PathTooLong {
            len,
            max: MAX_PATH_LEN,
        });
    }
    if inner.is_empty() {
        return Ok(());
    }
    for segment in inner.split('/') {
        if segment.is_empty() {
            return Err(NameError::EmptySegment {
                path: path.to_owned(),
            });
        }
        validate_name(segment)?;
    }
    Ok(())
}

/// The extra rule for a folder created directly at the root of a SharePoint
/// document library: `forms` is taken (contract §2.3). Only meaningful
/// where the destination is a document library's root.
pub fn validate_library_root_folder_name(name: &str) -> Result<(), NameError> {
    validate_name(name)?;
    if name.eq_ignore_ascii_case("forms") {
        return Err(NameError::ReservedAtLibraryRoot {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_link_documented_example() {
        // The URL is the example of graph:shares-get; the value is computed by
        // hand (base64 of the UTF-8 bytes, then `=`→'', `/`→`_`, `+`→`-`).
        assert_eq!(
            encode_share_link(
                "https://onedrive.live.com/redir?resid=1231244193912!12&authKey=1201919!12921!1"
            ),
            "u!aHR0cHM6Ly9vbmVkcml2ZS5saXZlLmNvbS9yZWRpcj9yZXNpZD0xMjMxMjQ0MTkzOTEyITEyJmF1dGhLZXk9MTIwMTkxOSExMjkyMSEx"
        );
    }

    #[test]
    fn share_link_uses_url_alphabet_without_padding() {
        // Standard base64 of this is "aHR0cHM6Ly8xZHJ2Lm1zL2YvcyFBa1d+Pz4+".
        let e = encode_share_link("https://1drv.ms/f/s!AkW~?>>");
        assert_eq!(e, "u!aHR0cHM6Ly8xZHJ2Lm1zL2YvcyFBa1d-Pz4-");
        // "ab?" → standard "YWI/" ; one and two bytes of padding dropped.
        assert_eq!(encode_share_link("ab?"), "u!YWI_");
        assert_eq!(encode_share_link("a"), "u!YQ");
        assert_eq!(encode_share_link("ab"), "u!YWI");
        assert!(!encode_share_link("https://x/y?z=1").contains('='));
        // Pasted with a newline.
        assert_eq!(encode_share_link(" a\n"), "u!YQ");
    }

    #[test]
    fn path_segment_encoding() {
        assert_eq!(encode_path_segment("db.json"), "db.json");
        assert_eq!(encode_path_segment("my file.txt"), "my%20file.txt");
        assert_eq!(encode_path_segment("a+b"), "a+b");
        assert_eq!(encode_path_segment("50% #1"), "50%25%20%231");
        assert_eq!(encode_path_segment("a?b/c:d"), "a%3Fb%2Fc%3Ad");
        assert_eq!(encode_path_segment("Café"), "Caf%C3%A9");
        assert_eq!(encode_path_segment("日本"), "%E6%97%A5%E6%9C%AC");
        assert_eq!(encode_path_segment("😀"), "%F0%9F%98%80");
        assert_eq!(encode_path_segment("O'Brien (1)"), "O'Brien%20(1)");
        assert_eq!(
            encode_path_segment("a&b=c;d,e!f$g*h@i"),
            "a&b=c;d,e!f$g*h@i"
        );
        assert_eq!(encode_path_segment("~x_y-z"), "~x_y-z");
        assert_eq!(
            encode_path_segment("[a]{b}^`|\"<>\\"),
            "%5Ba%5D%7Bb%7D%5E%60%7C%22%3C%3E%5C"
        );
        assert_eq!(encode_path_segment("a\nb"), "a%0Ab");
        assert_eq!(encode_path_segment(""), "");
    }

    #[test]
    fn path_encoding() {
        assert_eq!(
            encode_path("/Backups/My Db/x+y.json/"),
            "Backups/My%20Db/x+y.json"
        );
        assert_eq!(encode_path("a#b"), "a%23b");
    }

    #[test]
    fn ordinary_names_pass() {
        for n in [
            "db.json",
            "Backups",
            "nuage-2024-01-01T00-00-00.json.zst",
            "Café crème",
            "a+b",
            "#hash",
            "100%",
            ".hidden",
            "~folder",
            "x~$y",
            "CONSOLE",
            "con_backup",
            "com10",
            "lpt",
            "COM",
            "desktop.ini.bak",
            "my.lock",
            "forms",
            "日本語",
        ] {
            assert_eq!(validate_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn invalid_characters() {
        for ch in ['"', '*', ':', '<', '>', '?', '/', '\\', '|'] {
            let name = format!("a{ch}b");
            assert_eq!(
                validate_name(&name),
                Err(NameError::InvalidCharacter {
                    name: name.clone(),
                    ch
                }),
                "{name}"
            );
        }
        let msg = validate_name("a:b").unwrap_err().to_string();
        assert!(
            msg.contains("'a:b'") && msg.contains("':'") && msg.contains("Remove"),
            "{msg}"
        );
    }

    #[test]
    fn control_characters() {
        for n in ["a\nb", "a\rb", "tab\there", "\u{0}", "del\u{7f}"] {
            assert!(
                matches!(validate_name(n), Err(NameError::ControlCharacter { .. })),
                "{n:?}"
            );
        }
        let msg = validate_name("a\nb").unwrap_err().to_string();
        assert!(msg.contains(r#""a\nb""#), "{msg}");
    }

    #[test]
    fn spaces_and_dots() {
        for n in [" a", "a ", " ", "  a  "] {
            assert!(
                matches!(
                    validate_name(n),
                    Err(NameError::LeadingOrTrailingSpace { .. })
                ),
                "{n:?}"
            );
        }
        for n in ["a.", "a..", ".", ".."] {
            assert!(
                matches!(validate_name(n), Err(NameError::TrailingDot { .. })),
                "{n:?}"
            );
        }
        assert_eq!(validate_name("a b.c"), Ok(()));
    }

    #[test]
    fn reserved_names_any_case_with_extension() {
        for n in [
            "CON",
            "con",
            "Con",
            "PRN",
            "aux",
            "NUL",
            "nul.txt",
            "CON.txt",
            "con.tar.gz",
            "COM0",
            "com1",
            "COM9.log",
            "LPT0",
            "lpt5",
            "Lpt9.x",
            ".lock",
            ".LOCK",
            "desktop.ini",
            "Desktop.INI",
        ] {
            assert!(
                matches!(validate_name(n), Err(NameError::Reserved { .. })),
                "{n}"
            );
        }
        let msg = validate_name("CON.txt").unwrap_err().to_string();
        assert!(
            msg.contains("'CON.txt'") && msg.contains("Choose another name"),
            "{msg}"
        );
    }

    #[test]
    fn office_temp_and_vti() {
        for n in ["~$report.docx", "~$"] {
            assert!(
                matches!(validate_name(n), Err(NameError::OfficeTempPrefix { .. })),
                "{n}"
            );
        }
        for n in ["_vti_", "a_vti_b", "X_VTI_cnf"] {
            assert!(
                matches!(validate_name(n), Err(NameError::ContainsVti { .. })),
                "{n}"
            );
        }
        assert_eq!(validate_name("_vti"), Ok(()));
    }

    #[test]
    fn empty_and_long_names() {
        assert_eq!(validate_name(""), Err(NameError::Empty));
        let ok = "a".repeat(MAX_NAME_LEN);
        assert_eq!(validate_name(&ok), Ok(()));
        let long = "a".repeat(MAX_NAME_LEN + 1);
        let err = validate_name(&long).unwrap_err();
        assert!(matches!(
            err,
            NameError::NameTooLong {
                len: 256,
                max: 255,
                ..
            }
        ));
        // The message quotes only the start of the name.
        assert!(err.to_string().len() < 200, "{err}");
        // Characters outside the BMP count twice, as in UTF-16.
        let emoji = "😀".repeat(128);
        assert!(matches!(
            validate_name(&emoji),
            Err(NameError::NameTooLong { len: 256, .. })
        ));
    }

    #[test]
    fn paths() {
        assert_eq!(validate_path(""), Ok(()));
        assert_eq!(validate_path("/"), Ok(()));
        assert_eq!(validate_path("Backups"), Ok(()));
        assert_eq!(validate_path("/Backups/Nuage/db.json"), Ok(()));
        assert_eq!(validate_path("Backups/Nuage/"), Ok(()));
        assert!(matches!(
            validate_path("Backups//Nuage"),
            Err(NameError::EmptySegment { .. })
        ));
        assert!(matches!(
            validate_path("//Backups"),
            Err(NameError::EmptySegment { .. })
        ));
        assert!(matches!(
            validate_path("Backups/CON/x"),
            Err(NameError::Reserved { name }) if name == "CON"
        ));
        assert!(matches!(
            validate_path("Backups /x"),
            Err(NameError::LeadingOrTrailingSpace { .. })
        ));
        assert!(matches!(
            validate_path("a/b?/c"),
            Err(NameError::InvalidCharacter { ch: '?', .. })
        ));
    }

    #[test]
    fn path_length_is_decoded_length() {
        // 400 characters exactly: 4 × (98 + '/') + 4.
        let seg = "a".repeat(98);
        let p400 = format!("{seg}/{seg}/{seg}/{seg}/abcd");
        assert_eq!(p400.chars().count(), 400);
        assert_eq!(validate_path(&p400), Ok(()));
        assert_eq!(
            validate_path(&format!("/{p400}/")),
            Ok(()),
            "slashes around are not counted"
        );
        let p401 = format!("{p400}d");
        assert_eq!(
            validate_path(&p401),
            Err(NameError::PathTooLong { len: 401, max: 400 })
        );
        // Spaces count once (decoded), though they encode to three bytes.
        let spaced = format!("{}/{}", "a b".repeat(66), "c d".repeat(66));
        assert_eq!(spaced.chars().count(), 397);
        assert_eq!(validate_path(&spaced), Ok(()));
        let msg = validate_path(&p401).unwrap_err().to_string();
        assert!(
            msg.contains("401") && msg.contains("at most 400") && msg.contains("shorter"),
            "{msg}"
        );
    }

    #[test]
    fn library_root_forms() {
        assert!(matches!(
            validate_library_root_folder_name("Forms"),
            Err(NameError::ReservedAtLibraryRoot { .. })
        ));
        assert!(matches!(
            validate_library_root_folder_name("forms"),
            Err(NameError::ReservedAtLibraryRoot { .. })
        ));
        assert_eq!(validate_library_root_folder_name("Backups"), Ok(()));
        assert!(matches!(
            validate_library_root_folder_name("CON"),
            Err(NameError::Reserved { .. })
        ));
        // Elsewhere "forms" is fine.
        assert_eq!(validate_path("Backups/forms"), Ok(()));
    }

    #[test]
    fn every_message_tells_what_to_do() {
        let errs = [
            validate_name("").unwrap_err(),
            validate_name("a*").unwrap_err(),
            validate_name("a\n").unwrap_err(),
            validate_name(" a").unwrap_err(),
            validate_name("a.").unwrap_err(),
            validate_name("nul").unwrap_err(),
            validate_name("~$a").unwrap_err(),
            validate_name("_vti_").unwrap_err(),
            validate_name(&"x".repeat(300)).unwrap_err(),
            validate_path("a//b").unwrap_err(),
            validate_path(&"a/".repeat(300)).unwrap_err(),
            validate_library_root_folder_name("forms").unwrap_err(),
        ];
        for e in errs {
            let m = e.to_string();
            assert!(m.ends_with('.'), "{m}");
            assert!(
                ["Remove", "Choose", "Give it a name"]
                    .iter()
                    .any(|a| m.contains(a)),
                "{m}"
            );
        }
    }
}
