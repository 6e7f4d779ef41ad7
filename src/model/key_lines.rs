//! Where the keys of a scenario's text are: the line of each key under chosen top-level
//! tables (`config`, `agents`, `simulation`), by its path of keys, so that an issue found
//! after parsing (a value out of its range, a name that matches nothing) can name the line
//! of the field at fault.
//!
//! The text is read again for this, and only when some issue needs a line: parsing a valid
//! file of any size costs nothing more. The tables not asked for (a million `tasks`) are
//! skipped, not built.

use super::Format;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The keys under a scenario's chosen top-level tables, each with the line where its value
/// starts. An array's entries are keyed by their index (`"0"`, `"1"`, …).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyLines {
    /// The top-level tables read, in the order written.
    roots: Vec<(String, Node)>,
}

/// One value: the line where it starts, and its keys if it is a table or an array.
#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    line: usize,
    children: Vec<(String, Node)>,
}

impl KeyLines {
    /// The lines of every key under the top-level `roots` of `text`. `None` where the text
    /// does not parse as a document of its format.
    pub fn read(text: &str, format: Format, roots: &[&str]) -> Option<KeyLines> {
        // The line ends found once, then a binary search per key: counting from the text's
        // start for each key would scan a large file again for every one.
        let ends: Vec<usize> = memchr::memchr_iter(b'\n', text.as_bytes()).collect();
        let lines = LineIndex { ends: &ends };
        match format {
            Format::Toml => {
                let deserializer = toml::Deserializer::parse(text).ok()?;
                let roots = TomlRoots { roots, lines }.deserialize(deserializer).ok()?;
                Some(KeyLines { roots })
            }
            Format::Json => {
                use serde_json::value::RawValue;
                let top: Vec<(String, &RawValue)> =
                    serde_json::from_str::<OrderedRaw>(text).ok()?.0;
                let mut read = Vec::new();
                for (name, raw) in top {
                    if roots.contains(&name.as_str()) {
                        read.push((name, json_node(text, raw, lines)?));
                    }
                }
                Some(KeyLines { roots: read })
            }
        }
    }

    /// The line of the value at `path` (its first key a top-level table), whichever
    /// spelling the file uses for each key (`max_concurrent_tasks` or
    /// `maxConcurrentTasks`); `None` if no such key is written.
    pub fn line(&self, path: &[&str]) -> Option<usize> {
        let (first, rest) = path.split_first()?;
        let mut node = find(&self.roots, first)?;
        for key in rest {
            node = find(&node.children, key)?;
        }
        Some(node.line)
    }

    /// The line of the value at `path`, or else of the nearest key above it that is
    /// written (a value whose own key is not, such as one inherited or one of a table's
    /// defaults): `None` only if not even the top-level table is.
    pub fn nearest_line(&self, path: &[&str]) -> Option<usize> {
        (1..=path.len())
            .rev()
            .find_map(|len| self.line(&path[..len]))
    }
}

/// The child named `key`: spelled as given if there is one, else spelled any other way
/// (underscores and case aside), as serde's `rename_all`/`alias` accept both spellings.
fn find<'n>(children: &'n [(String, Node)], key: &str) -> Option<&'n Node> {
    let plain = |name: &str| -> String {
        name.chars()
            .filter(|&c| c != '_')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    children
        .iter()
        .find(|(name, _)| name == key)
        .or_else(|| {
            let wanted = plain(key);
            children.iter().find(|(name, _)| plain(name) == wanted)
        })
        .map(|(_, node)| node)
}

/// Byte offsets to 1-based lines.
#[derive(Clone, Copy)]
struct LineIndex<'a> {
    /// The offset of every `\n`.
    ends: &'a [usize],
}

impl LineIndex<'_> {
    fn line(self, offset: usize) -> usize {
        self.ends.partition_point(|&end| end < offset) + 1
    }
}

/// A JSON object's members in the order written, each value unparsed.
struct OrderedRaw<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de: 'a, 'a> de::Deserialize<'de> for OrderedRaw<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = OrderedRaw<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    members.push((key, map.next_value()?));
                }
                Ok(OrderedRaw(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// The node of a JSON value that is a slice of `text`, its children read in turn.
fn json_node(text: &str, raw: &serde_json::value::RawValue, lines: LineIndex) -> Option<Node> {
    // Every raw value is a slice of `text`: where it starts is its offset.
    let line = lines.line(raw.get().as_ptr() as usize - text.as_ptr() as usize);
    let children = match raw.get().as_bytes().first() {
        Some(b'{') => serde_json::from_str::<OrderedRaw>(raw.get())
            .ok()?
            .0
            .into_iter()
            .map(|(key, value)| Some((key, json_node(text, value, lines)?)))
            .collect::<Option<_>>()?,
        Some(b'[') => serde_json::from_str::<Vec<&serde_json::value::RawValue>>(raw.get())
            .ok()?
            .into_iter()
            .enumerate()
            .map(|(i, value)| Some((i.to_string(), json_node(text, value, lines)?)))
            .collect::<Option<_>>()?,
        _ => Vec::new(),
    };
    Some(Node { line, children })
}

/// The top level of a TOML document: the tables named in `roots` read as nodes, the rest
/// skipped.
struct TomlRoots<'r, 'l> {
    roots: &'r [&'r str],
    lines: LineIndex<'l>,
}

impl<'de> DeserializeSeed<'de> for TomlRoots<'_, '_> {
    type Value = Vec<(String, Node)>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TomlRoots<'_, '_> {
    type Value = Vec<(String, Node)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut read = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.roots.contains(&key.as_str()) {
                let node = map.next_value::<toml::Spanned<TomlNode>>()?;
                let line = self.lines.line(node.span().start);
                read.push((key, node.into_inner().into_node(line, self.lines)));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(read)
    }
}

/// A TOML value's children (the keys of a table, the positions of an array; none for a
/// scalar), each with its value's span, before the spans become lines.
#[derive(Default)]
struct TomlNode(Vec<(String, toml::Spanned<TomlNode>)>);

impl TomlNode {
    fn into_node(self, line: usize, lines: LineIndex) -> Node {
        Node {
            line,
            children: self
                .0
                .into_iter()
                .map(|(key, value)| {
                    let line = lines.line(value.span().start);
                    (key, value.into_inner().into_node(line, lines))
                })
                .collect(),
        }
    }
}

impl<'de> de::Deserialize<'de> for TomlNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TomlNodeVisitor)
    }
}

struct TomlNodeVisitor;

impl<'de> Visitor<'de> for TomlNodeVisitor {
    type Value = TomlNode;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TomlNode, A::Error> {
        let mut children = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            children.push((key, map.next_value()?));
        }
        Ok(TomlNode(children))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TomlNode, A::Error> {
        let mut children = Vec::new();
        while let Some(value) = seq.next_element()? {
            children.push((children.len().to_string(), value));
        }
        Ok(TomlNode(children))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<TomlNode, E> {
        Ok(TomlNode::default())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<TomlNode, E> {
        Ok(TomlNode::default())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<TomlNode, E> {
        Ok(TomlNode::default())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<TomlNode, E> {
        Ok(TomlNode::default())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<TomlNode, E> {
        Ok(TomlNode::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line of the first line of `text` that contains `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in the text"))
            + 1
    }

    #[test]
    fn toml_keys_tables_and_arrays_have_their_lines() {
        let text = "time_unit = 'minutes'\n\
            [config]\nmax_agents = 3\n\
            [[agents]]\ncount = 2\n\
            [[agents]]\nid = 'fast'\nspeed = 2.0\n\
            [[tasks]]\nid = 'a'\nestimated_duration = 1\n\
            [simulation]\nfailure_probability = 0.1\n\
            duration = { model = 'lognormal', spread = 9 }\n\
            crashes = [\n  { agent = 'x', at = '1m' },\n  { agent = 'y', at = '2m' },\n]\n\
            [simulation.tasks.'build.core']\nhang_probability = 2\n";
        let lines =
            KeyLines::read(text, Format::Toml, &["config", "agents", "simulation"]).unwrap();
        assert_eq!(
            lines.line(&["config", "max_agents"]),
            Some(line_of(text, "max_agents"))
        );
        assert_eq!(
            lines.line(&["agents", "1", "speed"]),
            Some(line_of(text, "speed"))
        );
        assert_eq!(
            lines.line(&["agents", "1"]),
            Some(line_of(text, "id = 'fast'") - 1)
        );
        assert_eq!(
            lines.line(&["simulation", "duration", "spread"]),
            Some(line_of(text, "spread"))
        );
        assert_eq!(
            lines.line(&["simulation", "crashes", "1", "at"]),
            Some(line_of(text, "agent = 'y'"))
        );
        // A task id with a dot is one key, not two.
        assert_eq!(
            lines.line(&["simulation", "tasks", "build.core", "hang_probability"]),
            Some(line_of(text, "hang_probability"))
        );
        // Tables not asked for are not read.
        assert_eq!(lines.line(&["tasks"]), None);
        assert_eq!(lines.line(&["simulation", "seed"]), None);
        assert_eq!(
            lines.nearest_line(&["simulation", "duration", "median"]),
            Some(line_of(text, "spread"))
        );
        assert_eq!(lines.nearest_line(&["time_unit"]), None);
    }

    #[test]
    fn json_keys_have_their_lines_in_either_spelling() {
        let text = "{\n  \"config\": {\n    \"maxAgents\": 3\n  },\n  \"tasks\": [],\n  \
            \"simulation\": {\n    \"crashes\": [\n      {\"agent\": \"x\",\n       \"at\": 5}\n    ],\n    \
            \"types\": {\"testing\": {\n      \"failureProbability\": 3}}\n  }\n}\n";
        let lines = KeyLines::read(text, Format::Json, &["config", "simulation"]).unwrap();
        assert_eq!(
            lines.line(&["config", "max_agents"]),
            Some(line_of(text, "maxAgents"))
        );
        assert_eq!(
            lines.line(&["simulation", "crashes", "0", "at"]),
            Some(line_of(text, "\"at\""))
        );
        assert_eq!(
            lines.line(&["simulation", "crashes", "0"]),
            Some(line_of(text, "\"agent\""))
        );
        assert_eq!(
            lines.line(&["simulation", "types", "testing", "failure_probability"]),
            Some(line_of(text, "failureProbability"))
        );
        assert_eq!(lines.line(&["tasks"]), None);
    }

    #[test]
    fn a_text_that_does_not_parse_has_no_lines() {
        assert_eq!(KeyLines::read("[config", Format::Toml, &["config"]), None);
        assert_eq!(
            KeyLines::read("{\"config\": ", Format::Json, &["config"]),
            None
        );
        assert_eq!(KeyLines::read("[1, 2]", Format::Json, &["config"]), None);
    }
}
