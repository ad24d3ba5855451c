//! `[build]` in `app.toml`: how `warden build` turns the app's source into
//! its component. Optional: without it the language is read off the app's
//! folder (`Cargo.toml`, `app.py`, `app.js`).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    /// `rust`, `python` or `js`; default: read off the folder.
    pub language: Option<Language>,
    /// The entry file, relative to `app.toml`: `app.py` or `app.js` by
    /// default (Rust builds the crate beside `app.toml`).
    pub source: Option<PathBuf>,
}

/// The languages `warden build` has a toolchain for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
    #[serde(alias = "javascript")]
    Js,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }

    /// The entry file a folder of this language starts from.
    pub fn default_source(self) -> &'static str {
        match self {
            Language::Rust => "Cargo.toml",
            Language::Python => "app.py",
            Language::Js => "app.js",
        }
    }

    /// The language of the app in `dir`, from the file that starts it:
    /// `Cargo.toml`, `app.py` or `app.js` (the first found, in that order).
    pub fn detect(dir: &Path) -> Option<Language> {
        [Language::Rust, Language::Python, Language::Js]
            .into_iter()
            .find(|l| dir.join(l.default_source()).is_file())
    }

    /// `--lang` as a creator types it.
    pub fn parse(name: &str) -> Option<Language> {
        match name {
            "rust" => Some(Language::Rust),
            "python" | "py" => Some(Language::Python),
            "js" | "javascript" => Some(Language::Js),
            _ => None,
        }
    }
}
