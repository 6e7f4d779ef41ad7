//! The task ids and titles that events carry: every id (or title) of a plan in one shared
//! table, and a [`Text`] handle (the table and an index) per string.
//!
//! Each event names a task, and the core emits several events per attempt. With one
//! `Arc<str>` per id, naming a task meant an atomic increment on that id's own allocation,
//! reached through the task's spec: at a million tasks, two cache misses per event on
//! memory nothing else touches (a fifth of the core's time). A [`Text`] clones the table's
//! `Arc` instead, the same hot line for every task, and the text itself is only read by
//! whoever prints it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// The strings, concatenated, and where each one ends.
#[derive(PartialEq, Eq)]
struct Table {
    text: Box<str>,
    /// `ends[i]` is the byte offset in `text` where string `i` ends; it starts where
    /// string `i - 1` ends (or at 0).
    ends: Box<[u32]>,
}

impl Table {
    fn new<'a>(strings: impl IntoIterator<Item = &'a str>) -> Table {
        let mut text = String::new();
        let mut ends = Vec::new();
        for string in strings {
            text.push_str(string);
            let end = u32::try_from(text.len()).expect("a plan's ids or titles exceed 4 GiB");
            ends.push(end);
        }
        Table {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    fn get(&self, ix: usize) -> &str {
        let start = if ix == 0 { 0 } else { self.ends[ix - 1] } as usize;
        &self.text[start..self.ends[ix] as usize]
    }
}

/// One string per task of a plan (its id, or its title), in plan order. Cloning it
/// shares the table.
#[derive(Clone)]
pub struct TextTable(Arc<Table>);

impl TextTable {
    /// The table of these strings, in this order.
    pub fn new<'a>(strings: impl IntoIterator<Item = &'a str>) -> TextTable {
        TextTable(Arc::new(Table::new(strings)))
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.0.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.ends.is_empty()
    }

    /// The string at `ix`.
    ///
    /// # Panics
    /// If `ix` is out of range.
    pub fn get(&self, ix: usize) -> &str {
        self.0.get(ix)
    }

    /// A handle to the string at `ix`: one reference count on the shared table, no copy.
    ///
    /// # Panics
    /// If `ix` is out of range.
    pub fn text(&self, ix: usize) -> Text {
        assert!(ix < self.len(), "task index {ix} out of range");
        Text {
            table: self.0.clone(),
            ix: ix as u32,
        }
    }

    /// The strings in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|ix| self.0.get(ix))
    }
}

impl PartialEq for TextTable {
    fn eq(&self, other: &TextTable) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl fmt::Debug for TextTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for TextTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for TextTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TextTable, D::Error> {
        let ids = Vec::<String>::deserialize(deserializer)?;
        Ok(TextTable::new(ids.iter().map(String::as_str)))
    }
}

/// A task's id or title: a handle into its plan's [`TextTable`]. Reads as a `str` (it
/// derefs to one, compares, orders and hashes as one, and serializes as one); cloning it
/// touches only the shared table's reference count.
#[derive(Clone)]
pub struct Text {
    table: Arc<Table>,
    ix: u32,
}

impl Text {
    /// The string.
    pub fn as_str(&self) -> &str {
        self.table.get(self.ix as usize)
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    /// A handle to a table of its own (for ids read back from a journal, say).
    fn from(string: &str) -> Text {
        TextTable::new([string]).text(0)
    }
}

impl From<String> for Text {
    fn from(string: String) -> Text {
        Text::from(string.as_str())
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        (Arc::ptr_eq(&self.table, &other.table) && self.ix == other.ix)
            || self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        Ok(Text::from(String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    #[test]
    fn handles_read_back_their_ids() {
        let ids = TextTable::new(["a", "", "bcd", "é"]);
        assert_eq!(ids.len(), 4);
        assert_eq!(ids.iter().collect::<Vec<_>>(), ["a", "", "bcd", "é"]);
        assert_eq!(ids.text(2).as_str(), "bcd");
        assert_eq!(&*ids.text(1), "");
        assert_eq!(ids.text(3).to_string(), "é");
        assert_eq!(format!("{:?}", ids.text(0)), "\"a\"");
    }

    #[test]
    fn handles_compare_order_and_hash_as_their_text() {
        let plan = TextTable::new(["b", "a", "b"]);
        let own = Text::from("b");
        assert_eq!(plan.text(0), own, "same text, different tables");
        assert_eq!(plan.text(0), plan.text(2), "same text, different indices");
        assert_ne!(plan.text(0), plan.text(1));
        assert!(plan.text(1) < plan.text(0));
        assert_eq!(plan.text(0), "b");
        let set: HashSet<Text> = [plan.text(0), own, plan.text(2)].into_iter().collect();
        assert_eq!(set.len(), 1);
        let mut map = BTreeMap::new();
        map.insert(plan.text(1), 1);
        assert_eq!(map.get("a"), Some(&1), "looked up by &str");
    }

    #[test]
    fn serialized_as_plain_strings() {
        let ids = TextTable::new(["x", "y"]);
        assert_eq!(serde_json::to_string(&ids.text(1)).unwrap(), "\"y\"");
        assert_eq!(serde_json::to_string(&ids).unwrap(), "[\"x\",\"y\"]");
        let back: Text = serde_json::from_str("\"y\"").unwrap();
        assert_eq!(back, ids.text(1));
        let all: TextTable = serde_json::from_str("[\"x\",\"y\"]").unwrap();
        assert_eq!(all, ids);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn an_index_past_the_end_is_a_bug() {
        TextTable::new(["a"]).text(1);
    }
}
