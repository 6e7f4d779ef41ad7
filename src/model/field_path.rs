//! The path of the value a reader rejected (`agents[0].count`, `tasks[3].depends_on`), so
//! a message names the field as well as its line and column.
//!
//! Tracking the path costs time on every value, and a million-task file must load fast,
//! so files are read without it; only when reading fails is the text read again, with
//! [`serde_path_to_error`], to learn where. The second read fails at the same value,
//! since the same parser reads the same text into the same type.

use serde::de::DeserializeOwned;
use std::borrow::Cow;
use std::fmt;

/// A key as a path shows it: bare when TOML would write it bare (ASCII letters, digits,
/// `_` and `-`), otherwise quoted as a TOML or JSON string (`"build.core"`), so that a dot
/// or a space inside a key is not read as a step of the path.
pub fn display_key(key: &str) -> Cow<'_, str> {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(serde_json::to_string(key).expect("a string serializes"))
    }
}

/// One step of a path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    /// A key of a table or object.
    Key(String),
    /// A position in an array, from 0.
    Index(usize),
}

/// Where a value sits in a file's structure, from the top: `tasks[3].depends_on`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<PathPart>);

impl FieldPath {
    /// The index of the element of the top-level array `key` the path goes into
    /// (`Some(3)` for `tasks[3].depends_on` and key `tasks`).
    pub fn index_in(&self, key: &str) -> Option<usize> {
        match self.0.as_slice() {
            [PathPart::Key(k), PathPart::Index(i), ..] if k == key => Some(*i),
            _ => None,
        }
    }

    /// The field a reader's `message` is about: this path, or for an unknown field the
    /// table it is in (the message names the unknown key itself). `None` at the top.
    pub fn of_message(mut self, message: &str) -> Option<FieldPath> {
        if message.starts_with("unknown field") {
            self.0.pop();
        }
        (!self.0.is_empty()).then_some(self)
    }

    fn from_tracked(path: &serde_path_to_error::Path) -> Option<FieldPath> {
        use serde_path_to_error::Segment;
        let parts: Vec<PathPart> = path
            .iter()
            .filter_map(|segment| match segment {
                Segment::Seq { index } => Some(PathPart::Index(*index)),
                Segment::Map { key } => Some(PathPart::Key(key.clone())),
                Segment::Enum { variant } => Some(PathPart::Key(variant.clone())),
                Segment::Unknown => None,
            })
            .collect();
        (!parts.is_empty()).then_some(FieldPath(parts))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, part) in self.0.iter().enumerate() {
            match part {
                PathPart::Index(i) => write!(f, "[{i}]")?,
                PathPart::Key(k) if n == 0 => f.write_str(&display_key(k))?,
                PathPart::Key(k) => write!(f, ".{}", display_key(k))?,
            }
        }
        Ok(())
    }
}

/// The path of the value at which reading `text` as JSON into `T` fails, if it fails
/// inside the document's structure (not on a syntax error before any value).
pub fn json_error_path<T: DeserializeOwned>(text: &str) -> Option<FieldPath> {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => None,
        Err(e) => FieldPath::from_tracked(e.path()),
    }
}

/// [`json_error_path`] for TOML.
pub fn toml_error_path<T: DeserializeOwned>(text: &str) -> Option<FieldPath> {
    let de = toml::Deserializer::parse(text).ok()?;
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(_) => None,
        Err(e) => FieldPath::from_tracked(e.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_bare_is_quoted_so_its_dots_are_not_steps() {
        let path = FieldPath(vec![
            PathPart::Key("simulation".into()),
            PathPart::Key("tasks".into()),
            PathPart::Key("build.core".into()),
            PathPart::Key("hang_probability".into()),
        ]);
        assert_eq!(
            path.to_string(),
            r#"simulation.tasks."build.core".hang_probability"#
        );
        let path = FieldPath(vec![
            PathPart::Key("tasks".into()),
            PathPart::Index(3),
            PathPart::Key("depends_on".into()),
            PathPart::Index(0),
        ]);
        assert_eq!(path.to_string(), "tasks[3].depends_on[0]");
        assert_eq!(display_key("auth-core_2"), "auth-core_2");
        assert_eq!(display_key("a b"), r#""a b""#);
        assert_eq!(display_key(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(display_key(""), r#""""#);
        assert_eq!(display_key("é"), r#""é""#);
    }
}
