//! Errors in `app.toml` and `warden.toml`: each says which file, which field,
//! what is wrong and how to fix it, so the person who wrote the file can act
//! without reading Warden's source.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{path}: cannot read the file: {source}\n  fix: check the path; it is resolved from the current directory"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {message}\n  fix: {fix}")]
    Parse {
        path: PathBuf,
        message: String,
        fix: &'static str,
    },

    #[error("{path}: field `{field}`: {problem}\n  fix: {fix}")]
    Invalid {
        path: PathBuf,
        field: String,
        problem: String,
        fix: String,
    },
}

impl ConfigError {
    pub fn invalid(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// The manifest field this error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Parses TOML into `T`, turning serde's message (which already names the
/// line, the column and, for unknown keys, the keys that exist) into a
/// [`ConfigError::Parse`] that names the file.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    text: &str,
    fix: &'static str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
        fix,
    })
}

pub(crate) fn read_file(path: &std::path::Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}
