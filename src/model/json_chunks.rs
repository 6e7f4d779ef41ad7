//! The fast path for large JSON scenarios: the top-level `"tasks"` array is cut between
//! its elements and each element is deserialized apart, in parallel, by the same
//! `serde_json` deserializer (the TOML twin is [`super::toml_chunks`]).
//!
//! Where to cut is found by one pass over the bytes that follows strings (with their
//! escapes) and nesting, so nothing inside a string or a nested value is ever cut. The
//! cut is only made when the document is an object with exactly one key spelled `tasks`
//! whose value is an array; the rest of the document is parsed with that array emptied,
//! and an escaped spelling of the key there is a duplicate field, an error, as it would
//! be whole. Anything unexpected, and any error at all, gives `None`: the caller then
//! parses the whole text the ordinary way, which also gives every error its position and
//! field path. This path only ever returns what the whole-document parse would have
//! returned.

use super::{ScenarioFile, TaskFile};
use rayon::prelude::*;

/// Below this many tasks the whole-document parse is fast enough and cutting buys nothing.
pub(super) const MIN_TASKS: usize = 20_000;

/// Tasks per unit of parallel work: large enough for rayon's per-job overhead to vanish.
const TASKS_PER_PIECE: usize = 4_096;

/// Nesting deeper than this anywhere in the tasks array is left to the whole-document
/// parse: `serde_json` refuses a document nested 128 deep, and an element parsed on its
/// own starts two levels higher than in its document, so near that limit the two parses
/// could disagree.
const MAX_DEPTH: usize = 100;

/// Where the `tasks` array is: the byte of its `[`, of its `]`, and where each element
/// starts.
#[derive(Debug, Clone, PartialEq)]
struct TasksArray {
    open: usize,
    close: usize,
    element_starts: Vec<usize>,
}

/// Parses `text` as a scenario by pieces, or `None` if the text is small, not cut
/// cleanly, or has any error (the caller then parses it whole).
pub(super) fn parse(text: &str) -> Option<ScenarioFile> {
    parse_with(text, MIN_TASKS, TASKS_PER_PIECE)
}

/// [`parse`] of a text of at least `min_tasks` tasks, parsed in parallel pieces of at
/// least `per_piece` tasks: the tests and the fuzz target `pieces` cut small texts finely.
pub(super) fn parse_with(text: &str, min_tasks: usize, per_piece: usize) -> Option<ScenarioFile> {
    let cut = Cut::new(text, min_tasks)?;
    let tasks = cut.map_tasks(text, per_piece, |_, task| task)?;
    let mut file = cut.head;
    file.tasks = tasks;
    Some(file)
}

/// A large JSON scenario cut for parsing by pieces: the document without its tasks,
/// parsed, and where each task is in the text.
pub(super) struct Cut {
    /// The document with its tasks array emptied, parsed: every field but `tasks`.
    pub(super) head: ScenarioFile,
    array: TasksArray,
}

impl Cut {
    /// Cuts `text` if it has at least `min_tasks` tasks, is cut cleanly and the rest of the
    /// document parses; `None` otherwise.
    pub(super) fn new(text: &str, min_tasks: usize) -> Option<Cut> {
        let array = tasks_array(text.as_bytes())?;
        if array.element_starts.len() < min_tasks {
            return None;
        }
        // Only white space may come between the `[` and the first element (or the `]` of
        // an array without one): the scan passes over `:` and `,` there too.
        let first = array.element_starts.first().copied().unwrap_or(array.close);
        if !text.as_bytes()[array.open + 1..first]
            .iter()
            .all(|&b| is_json_space(b))
        {
            return None;
        }
        let rest = format!("{}[]{}", &text[..array.open], &text[array.close + 1..]);
        let head = serde_json::from_str::<ScenarioFile>(&rest).ok()?;
        if !head.tasks.is_empty() {
            return None;
        }
        Some(Cut { head, array })
    }

    /// Deserializes every task of `text` (the text this cut was made of), on every core
    /// in pieces of at least `per_piece` tasks, and hands each with its index to `map`;
    /// `None` if any task does not parse. The results come in file order.
    ///
    /// Each element is deserialized from its own bytes and mapped straight into its place
    /// in the result: no copy of the text, no pieces to append afterwards, and, when
    /// `map` resolves the task, no list of the file's tasks at all.
    pub(super) fn map_tasks<T: Send>(
        &self,
        text: &str,
        per_piece: usize,
        map: impl Fn(usize, TaskFile) -> T + Sync,
    ) -> Option<Vec<T>> {
        assert!(per_piece > 0, "pieces of no task");
        let starts = &self.array.element_starts;
        let last = starts.len().saturating_sub(1);
        let mut tasks: Vec<Option<T>> = Vec::new();
        starts
            .par_iter()
            .enumerate()
            .with_min_len(per_piece)
            .map(|(i, &start)| {
                // The element and what follows it up to the next one: white space and one
                // comma, dropped. The last ends at the `]`, and a comma there is the
                // document's error, kept.
                let end = starts.get(i + 1).copied().unwrap_or(self.array.close);
                let body = trim_json_space(&text[start..end]);
                let body = if i < last {
                    body.strip_suffix(',')?
                } else {
                    body
                };
                let task = serde_json::from_str::<TaskFile>(body).ok()?;
                Some(map(i, task))
            })
            .collect_into_vec(&mut tasks);
        tasks.into_iter().collect()
    }
}

/// JSON's four white-space bytes (not Unicode's, which `str::trim` would take).
fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `text` without the JSON white space at its end.
fn trim_json_space(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_ascii() && is_json_space(c as u8))
}

/// Finds the top-level `"tasks"` array in one pass, or `None` if the document is not an
/// object holding exactly one such key with an array value, or is not well nested. A large
/// document is scanned in pieces on every core ([`tasks_array_in`]).
fn tasks_array(bytes: &[u8]) -> Option<TasksArray> {
    let pieces = (bytes.len() / SCAN_PIECE_MIN).clamp(1, rayon::current_num_threads().max(1));
    tasks_array_in(bytes, pieces)
}

/// Bytes per piece of a scan cut across cores, at least: below this one core is as fast.
const SCAN_PIECE_MIN: usize = 1 << 22;

/// [`tasks_array`] in `pieces` pieces scanned side by side.
///
/// Each piece after the first starts at a guessed element of the tasks array (a `{` after
/// `},`) and assumes the state the scan has there ([`Scan::at_element`]). A guess is
/// only right if the piece before it, scanned from its own start, ends exactly there in
/// that state; then the scan from there is the one-pass scan's, token for token. Any
/// guess that is wrong (inside a string, a nested value, or not in the array at all),
/// and any piece that fails, leaves the document to the one-pass scan.
fn tasks_array_in(bytes: &[u8], pieces: usize) -> Option<TasksArray> {
    if pieces > 1
        && let Some(split) = tasks_array_split(bytes, pieces)
    {
        return split;
    }
    let mut scan = Scan::new();
    scan.run(bytes, 0, bytes.len())?;
    scan.finish()
}

/// The split scan of [`tasks_array_in`]: `None` if the pieces' guesses cannot be made or
/// were wrong, else the scan's result.
fn tasks_array_split(bytes: &[u8], pieces: usize) -> Option<Option<TasksArray>> {
    let mut bounds = vec![0];
    for k in 1..pieces {
        let from = (bytes.len() / pieces * k).max(bounds[k - 1] + 1);
        bounds.push(element_guess(bytes, from)?);
    }
    bounds.push(bytes.len());
    let scans: Vec<Option<Scan>> = bounds
        .par_windows(2)
        .enumerate()
        .map(|(k, range)| {
            let mut scan = if k == 0 {
                Scan::new()
            } else {
                Scan::at_element()
            };
            let end = scan.run(bytes, range[0], range[1])?;
            if range[1] == bytes.len() {
                return Some(scan);
            }
            let right = scan.is_at_element();
            // Only a string runs past `to`, and no string leaves the scan at an element.
            assert!(
                !right || end == range[1],
                "a scan at an element stops at its guess"
            );
            right.then_some(scan)
        })
        .collect();
    let mut scans = scans.into_iter().collect::<Option<Vec<Scan>>>()?;
    let mut last = scans.pop().expect("at least two pieces");
    let mut starts = Vec::new();
    let mut open = 0;
    for (k, scan) in scans.into_iter().enumerate() {
        let array = scan
            .found
            .expect("a piece that ends at an element is in the array");
        if k == 0 {
            open = array.open;
        }
        starts.extend(array.element_starts);
    }
    let array = last
        .found
        .as_mut()
        .expect("the last piece starts in the array");
    starts.append(&mut array.element_starts);
    array.element_starts = starts;
    array.open = open;
    Some(last.finish())
}

/// The first `{` at or after `from` that follows `},` (white space aside): where an element
/// of the tasks array may start, if that is where the scan will be.
fn element_guess(bytes: &[u8], from: usize) -> Option<usize> {
    // Elements are short: one not found soon will not be.
    let to = bytes.len().min(from.saturating_add(1 << 16));
    (from..to).find(|&i| {
        let mut before = bytes[..i].iter().rev().filter(|&&b| !is_json_space(b));
        bytes[i] == b'{' && before.next() == Some(&b',') && before.next() == Some(&b'}')
    })
}

/// The cut scan's state between two tokens.
#[derive(Debug, Clone)]
struct Scan {
    /// The closing bracket each open one expects, innermost last: its length is the depth.
    /// A bracket closed by the other kind gives the document up to the whole parse, which
    /// refuses it.
    closers: Vec<u8>,
    /// Whether the string just closed at depth 1 was a key spelled `tasks`.
    last_key_is_tasks: bool,
    /// Whether, at depth 1, the next string is a key (after `{` or `,`).
    expect_key: bool,
    found: Option<TasksArray>,
    in_tasks: bool,
    /// Whether the next value inside the tasks array starts an element.
    element_next: bool,
}

impl Scan {
    /// The state before the document.
    fn new() -> Scan {
        Scan {
            closers: Vec::new(),
            last_key_is_tasks: false,
            expect_key: false,
            found: None,
            in_tasks: false,
            element_next: false,
        }
    }

    /// The state at an element of the tasks array that follows a comma, as far as the
    /// scan from there can see (where the array opened, and the elements before, it
    /// cannot).
    fn at_element() -> Scan {
        Scan {
            closers: vec![b'}', b']'],
            found: Some(TasksArray {
                open: 0,
                close: 0,
                element_starts: Vec::new(),
            }),
            in_tasks: true,
            element_next: true,
            ..Scan::new()
        }
    }

    /// Whether this is the state [`Scan::at_element`] assumes.
    fn is_at_element(&self) -> bool {
        self.closers == [b'}', b']']
            && !self.last_key_is_tasks
            && !self.expect_key
            && self.found.as_ref().is_some_and(|array| array.close == 0)
            && self.in_tasks
            && self.element_next
    }

    /// Scans the tokens that start in `bytes[from..to]` (a string that starts there is
    /// followed to its end, past `to` if need be); returns where the scan stopped, or
    /// `None` if the document is not one to cut.
    fn run(&mut self, bytes: &[u8], from: usize, to: usize) -> Option<usize> {
        let mut i = from;
        while i < to {
            let b = bytes[i];
            let depth = self.closers.len();
            match b {
                b'"' => {
                    if self.in_tasks && depth == 2 && self.element_next {
                        // A string element: counted and cut like any other.
                        start_element(&mut self.found, i);
                        self.element_next = false;
                    }
                    let start = i + 1;
                    i = start;
                    loop {
                        match *bytes.get(i)? {
                            b'"' => break,
                            b'\\' => i += 2,
                            _ => i += 1,
                        }
                    }
                    if depth == 1 && self.expect_key {
                        self.last_key_is_tasks = &bytes[start..i] == b"tasks";
                        self.expect_key = false;
                    }
                }
                b'{' | b'[' => {
                    if depth == 0 && b != b'{' {
                        return None;
                    }
                    if self.in_tasks && depth == 2 && self.element_next {
                        start_element(&mut self.found, i);
                        self.element_next = false;
                    }
                    self.closers.push(if b == b'{' { b'}' } else { b']' });
                    let depth = self.closers.len();
                    if self.in_tasks && depth > MAX_DEPTH {
                        return None;
                    }
                    if depth == 1 {
                        self.expect_key = true;
                    } else if depth == 2 && self.last_key_is_tasks {
                        self.last_key_is_tasks = false;
                        if b != b'[' || self.found.is_some() {
                            return None;
                        }
                        self.found = Some(TasksArray {
                            open: i,
                            close: 0,
                            element_starts: Vec::new(),
                        });
                        self.in_tasks = true;
                        self.element_next = true;
                    }
                }
                b'}' | b']' => {
                    if self.closers.pop()? != b {
                        return None;
                    }
                    let depth = self.closers.len();
                    if self.in_tasks && depth == 1 {
                        self.in_tasks = false;
                        self.found.as_mut()?.close = i;
                    }
                    if depth == 0 {
                        // Only white space may follow the document.
                        if !bytes[i + 1..].iter().all(|&b| is_json_space(b)) {
                            return None;
                        }
                        return Some(bytes.len());
                    }
                }
                b',' => {
                    if depth == 1 {
                        self.expect_key = true;
                        self.last_key_is_tasks = false;
                    } else if self.in_tasks && depth == 2 {
                        self.element_next = true;
                    }
                }
                b' ' | b'\t' | b'\n' | b'\r' | b':' => {}
                _ => {
                    // A number, `true`, `false` or `null`.
                    if self.in_tasks && depth == 2 && self.element_next {
                        start_element(&mut self.found, i);
                        self.element_next = false;
                    }
                    if depth == 1 && b != b':' {
                        self.last_key_is_tasks = false;
                    }
                }
            }
            i += 1;
        }
        Some(i)
    }

    /// The tasks array of a document scanned to its end.
    fn finish(self) -> Option<TasksArray> {
        if !self.closers.is_empty() {
            return None;
        }
        let array = self.found?;
        if array.close == 0 {
            return None;
        }
        Some(array)
    }
}

/// Notes that an element of the tasks array starts at `at`.
fn start_element(found: &mut Option<TasksArray>, at: usize) {
    if let Some(array) = found.as_mut() {
        array.element_starts.push(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Format, Scenario};
    use proptest::prelude::*;

    fn tasks(n: usize, extra: &str) -> String {
        let list: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"id":"t{i}","estimated_duration":5,"title":"a \"}}],{{[\\ b","depends_on":[{}]}}"#,
                    if i > 0 {
                        format!("\"t{}\"", i - 1)
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        format!(
            "{{\"agents\":[{{\"count\":2}}],\n \"tasks\" : [\n{}\n]{extra}}}\n",
            list.join(",\n")
        )
    }

    /// What the pieces give is what the whole-document parse gives.
    #[test]
    fn pieces_parse_as_the_whole() {
        let text = tasks(MIN_TASKS + TASKS_PER_PIECE + 7, ",\"time_unit\":\"hours\"");
        let whole: ScenarioFile = serde_json::from_str(&text).unwrap();
        let pieces = parse(&text).expect("cut");
        assert_eq!(pieces, whole);
        assert_eq!(pieces.tasks.len(), MIN_TASKS + TASKS_PER_PIECE + 7);
    }

    /// Small files, a second `tasks` key (escaped or not), trailing text and broken
    /// nesting are left to the whole-document parse.
    #[test]
    fn anything_unusual_is_left_whole() {
        let n = MIN_TASKS + 1;
        assert!(parse(&tasks(10, "")).is_none());
        assert!(parse(&tasks(n, ",\"tasks\":[]")).is_none());
        assert!(parse(&tasks(n, ",\"t\\u0061sks\":[]")).is_none());
        assert!(parse(&(tasks(n, "") + "x")).is_none());
        // A form feed is white space to Rust, not to JSON.
        assert!(serde_json::from_str::<ScenarioFile>(&(tasks(3, "") + "\u{c}")).is_err());
        assert!(parse(&(tasks(n, "") + "\u{c}")).is_none());
        let text = tasks(n, "");
        assert!(parse(&text[..text.len() - 3]).is_none());
        // Anything before the first element, or in an array without one, is parsed, not
        // skipped (the fuzz target `pieces` found `[::{…}` accepted).
        for junk in [":", ",", ": :"] {
            let text = tasks(3, "").replacen("[\n", &format!("[{junk}\n"), 1);
            assert!(serde_json::from_str::<ScenarioFile>(&text).is_err());
            assert!(parse_with(&text, 0, 1).is_none(), "{junk}");
            let empty = format!("{{\"tasks\":[{junk}]}}");
            assert!(parse_with(&empty, 0, 1).is_none(), "{empty}");
        }
        assert!(parse_with("{\"tasks\":[ ]}", 0, 1).is_some());
        // A comma after the last element is the document's error too.
        let trailing = tasks(3, "").replacen("\n]", ",\n]", 1);
        assert!(serde_json::from_str::<ScenarioFile>(&trailing).is_err());
        for per_piece in 1..4 {
            assert!(parse_with(&trailing, 0, per_piece).is_none());
        }
        let broken = text.replacen("\"estimated_duration\":5", "\"estimated_duration\":[", 1);
        assert!(parse(&broken).is_none());
        assert!(parse(&text.replacen("\"count\":2", "\"count\":\"two\"", 1)).is_none());
    }

    /// An element nested near `serde_json`'s limit of 128 is refused whole; parsed on its
    /// own it starts two levels higher and would pass, so deep nesting is left whole.
    #[test]
    fn deep_nesting_is_left_to_the_whole_document() {
        let deep = |levels: usize| {
            format!(
                r#"{{"tasks":[{{"id":"a","estimated_duration":1,"metadata":{{"k":{}1{}}}}}]}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            )
        };
        let refused = deep(124);
        assert!(serde_json::from_str::<ScenarioFile>(&refused).is_err());
        assert_eq!(
            ScenarioFile::check_pieces(&refused, Format::Json, 1),
            Ok(false)
        );
        let accepted = deep(90);
        assert_eq!(
            ScenarioFile::check_pieces(&accepted, Format::Json, 1),
            Ok(true)
        );
    }

    /// Elements of a tasks array: tasks, tasks whose strings hold brackets, quotes and
    /// escapes, nested values, elements of the wrong kind and broken ones.
    fn element() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            r#"{"id":"a","estimated_duration":1}"#,
            r#"{"id":"b}],{[","estimated_duration":"2h"}"#,
            r#"{"id":"c\"},{\"id\":\"d","estimated_duration":3}"#,
            r#"{"id":"e\\","estimated_duration":4,"depends_on":["a"]}"#,
            r#"{"id":"\u0066","estimated_duration":5,"metadata":{"k":[{"id":"x"},{"id":"y"}]}}"#,
            r#"{"id":"g","estimated_duration":6,"tasks":[]}"#,
            r#"{"id":"h","estimated_duration":1,"id":"h"}"#,
            r#""a string""#,
            "17",
            r#"[1,{"id":2}]"#,
            r#"{"id":"i","estimated_duration":"#,
            "}",
            r#"{"id":"j"]"#,
        ])
        .prop_map(str::to_string)
    }

    /// Documents around a tasks array: keys before and after it, a second `tasks`, an
    /// escaped spelling of the key, trailing text, stray bytes before the first element and
    /// after the last, and the array or the document closed by the wrong bracket.
    fn document() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(element(), 0..12),
            prop::sample::select(vec![",", " ,\n ", "\n,"]),
            prop::sample::select(vec![
                "",
                r#","time_unit":"hours""#,
                r#","tasks":[]"#,
                r#","t\u0061sks":[]"#,
                r#","agents":[]"#,
            ]),
            prop::sample::select(vec!["", " \n", "x", "}"]),
            prop::sample::select(vec!["", " ", ":", ","]),
            prop::sample::select(vec!["", ",", " ,\n"]),
            prop::sample::select(vec![("]", "}"), ("}", "}"), ("]", "]")]),
        )
            .prop_map(|(elements, comma, extra, tail, lead, trail, (close, end))| {
                format!(
                    "{{\"agents\":[{{\"count\":2}}], \"tasks\" : [{lead}{}{trail}{close}{extra}{end}{tail}",
                    elements.join(comma)
                )
            })
    }

    /// A scan cut across cores finds what the one-pass scan finds, taking its guesses
    /// where they are right and leaving the document to one pass where one is not.
    #[test]
    fn a_scan_in_pieces_is_the_scan_in_one() {
        let text = tasks(60, "");
        let bytes = text.as_bytes();
        let whole = tasks_array_in(bytes, 1).expect("a document to cut");
        assert_eq!(whole.element_starts.len(), 60);
        for pieces in 2..8 {
            let split = tasks_array_split(bytes, pieces);
            assert_eq!(split, Some(Some(whole.clone())), "{pieces} pieces");
        }
        // Every element's title holds `}],{[`: a guess just after `},` in one of them
        // is inside a string, and the piece before, which ends in that string, says so.
        let quoted = text.replace(r#"a \"}],{[\\ b"#, r#"a },{\"id\":{ b"#);
        assert_ne!(quoted, text);
        let whole = tasks_array_in(quoted.as_bytes(), 1).expect("still a document to cut");
        let mut guessed_wrong = 0;
        for pieces in 2..8 {
            match tasks_array_split(quoted.as_bytes(), pieces) {
                Some(split) => assert_eq!(split.as_ref(), Some(&whole), "{pieces} pieces"),
                None => guessed_wrong += 1,
            }
            assert_eq!(
                tasks_array_in(quoted.as_bytes(), pieces).as_ref(),
                Some(&whole)
            );
        }
        assert!(guessed_wrong > 0, "some guess falls inside a title");
        // After the tasks, an array of objects at the tasks' own depth: a guess there
        // ends the piece before where it should, at the depth of an element, but not in
        // the tasks array.
        let after = format!(",\"other\":[{}]", vec![r#"{"n":1}"#; 400].join(","));
        let text = tasks(10, &after);
        let whole = tasks_array_in(text.as_bytes(), 1).expect("a document to cut");
        assert_eq!(whole.element_starts.len(), 10);
        for pieces in 2..8 {
            assert_eq!(
                tasks_array_split(text.as_bytes(), pieces),
                None,
                "{pieces} pieces"
            );
            assert_eq!(
                tasks_array_in(text.as_bytes(), pieces).as_ref(),
                Some(&whole)
            );
        }
    }

    proptest! {
        /// The scan in pieces gives what the scan in one pass gives, on any document.
        #[test]
        fn pieces_of_the_scan_never_disagree(text in document(), pieces in 2usize..6) {
            prop_assert_eq!(
                tasks_array_in(text.as_bytes(), pieces),
                tasks_array_in(text.as_bytes(), 1)
            );
        }

        /// Whatever the pieces give, the whole-document parse gives too.
        #[test]
        fn pieces_never_disagree_with_the_whole(text in document(), per_piece in 1usize..4) {
            let checked = ScenarioFile::check_pieces(&text, Format::Json, per_piece);
            prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
        }

        /// Tasks resolved as they are parsed give the scenario, issues and errors that
        /// parsing the whole document and resolving it after gives, whether the pieces
        /// take the document or leave it to the whole-document parse.
        #[test]
        fn resolving_by_pieces_is_resolving_the_whole(text in document(), per_piece in 1usize..4) {
            let checked = Scenario::check_resolved_pieces(&text, per_piece);
            prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
        }
    }
}
