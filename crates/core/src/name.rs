//! Names of files and folders: validated once, at the edge, then trusted.
//!
//! A name is NFC-normalised UTF-8, 1 to 255 bytes, not `.` or `..`, and holds no `/`, no
//! control character (C0, DEL, C1: they break XML answers and terminals) and no bidirectional
//! override or isolate (U+202A–U+202E, U+2066–U+2069: `evil\u{202e}txt.exe` shows as
//! `evilexe.txt`), nor a direction mark (U+200E, U+200F, U+061C) or byte-order mark.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name cannot be empty")]
    Empty,
    #[error("a name cannot be '.' or '..'")]
    Dots,
    #[error("a name cannot contain '/', control characters or bidirectional overrides")]
    ForbiddenChar,
    #[error("a name is at most {MAX_NAME_BYTES} bytes of UTF-8")]
    TooLong,
}

/// A valid, NFC-normalised file or folder name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName(String);

impl NodeName {
    pub fn new(raw: &str) -> Result<Self, NameError> {
        let name: String = raw.nfc().collect();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name == "." || name == ".." {
            return Err(NameError::Dots);
        }
        if name.chars().any(forbidden) {
            return Err(NameError::ForbiddenChar);
        }
        if name.len() > MAX_NAME_BYTES {
            return Err(NameError::TooLong);
        }
        Ok(Self(name))
    }

    /// `raw` with each character a name may not hold replaced by `_`.
    pub fn clean(raw: &str) -> String {
        raw.chars().map(|c| if forbidden(c) { '_' } else { c }).collect()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key listings sort by: case-folded, so `b` sorts between `A` and `C`.
    pub fn sort_key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The `n`th alternative for `keep_both`: `name (n).ext`; a folder (or a name without an
    /// extension, or a dot-file) gets the suffix at the end. `None` when it would be too long.
    pub fn numbered(&self, n: u32, is_file: bool) -> Option<Self> {
        self.suffixed(&format!("({n})"), is_file)
    }

    /// `name suffix.ext` (a folder's at the end), like [`numbered`](Self::numbered).
    pub fn suffixed(&self, suffix: &str, is_file: bool) -> Option<Self> {
        let (stem, ext) = match self.0.rfind('.') {
            Some(dot) if is_file && dot > 0 => self.0.split_at(dot),
            _ => (self.0.as_str(), ""),
        };
        Self::new(&format!("{stem} {suffix}{ext}")).ok()
    }
}

/// Whether `c` may not appear in a name.
fn forbidden(c: char) -> bool {
    // Bidirectional overrides and isolates, the invisible direction marks (LRM, RLM, ALM) and
    // the byte-order mark: none belongs in a name, all can disguise one.
    c == '/'
        || c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{FEFF}')
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_the_rules_forbid() {
        assert_eq!(NodeName::new(""), Err(NameError::Empty));
        assert_eq!(NodeName::new("."), Err(NameError::Dots));
        assert_eq!(NodeName::new(".."), Err(NameError::Dots));
        assert_eq!(NodeName::new("a/b"), Err(NameError::ForbiddenChar));
        assert_eq!(NodeName::new("a\0b"), Err(NameError::ForbiddenChar));
        for bad in [
            "notes\u{1}.txt",
            "a\r\nb",
            "del\u{7f}",
            "c1\u{85}",
            "evil\u{202e}txt.exe",
            "\u{2066}x",
            "rl\u{200f}m",
            "\u{feff}bom",
            "alm\u{61c}",
        ] {
            assert_eq!(NodeName::new(bad), Err(NameError::ForbiddenChar), "{bad:?}");
        }
        assert!(NodeName::new("tab\u{a0}nbsp ünïcödé 名前 \u{200d}").is_ok());
        assert_eq!(NodeName::new(&"é".repeat(128)), Err(NameError::TooLong));
        assert!(NodeName::new(&"a".repeat(255)).is_ok());
        assert!(NodeName::new("...").is_ok());
    }

    #[test]
    fn normalises_to_nfc() {
        let decomposed = NodeName::new("e\u{301}t\u{e9}").ok();
        assert_eq!(decomposed.map(|n| n.0), Some("\u{e9}t\u{e9}".to_string()));
    }

    #[test]
    fn numbers_alternatives_before_the_extension() {
        let n = |s: &str, i, file| NodeName::new(s).ok().and_then(|n| n.numbered(i, file));
        assert_eq!(n("report.pdf", 1, true).map(|n| n.0), Some("report (1).pdf".into()));
        assert_eq!(n("v1.2", 2, false).map(|n| n.0), Some("v1.2 (2)".into()));
        assert_eq!(n(".bashrc", 1, true).map(|n| n.0), Some(".bashrc (1)".into()));
        assert_eq!(n("README", 3, true).map(|n| n.0), Some("README (3)".into()));
    }
}
