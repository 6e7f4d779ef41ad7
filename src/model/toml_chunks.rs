//! The fast path for large TOML scenarios: the file is cut at its `[[tasks]]` headers and
//! the pieces are parsed apart, in parallel, by the same `toml` deserializer.
//!
//! Why: `toml` builds a spanned tree of the whole document before deserializing it, about
//! 3.5 KB per task, so a million-task file took 3.6 GB and most of its load time in that
//! tree. A piece of a few thousand tasks is parsed, deserialized and dropped while the
//! next one is parsed, so the tree never holds more than two pieces (one per core).
//!
//! Where to cut is found with `toml_parser`'s lexer (the one `toml` itself uses), so
//! strings, comments and multi-line arrays are never cut: a header is a `[` that starts a
//! line outside any value. The cut is only made where it cannot change the meaning: the
//! tasks' tables (`[[tasks]]` and its `[tasks.…]` sub-tables) must be contiguous, and the
//! rest of the file (before and after them) must not mention `tasks`. Anything else, and
//! any error at all, gives `None`: the caller then parses the whole text the ordinary way,
//! which also gives every error its position and field path. This path only ever returns
//! what the whole-document parse would have returned.

use super::{ScenarioFile, TaskFile};
use rayon::prelude::*;
use serde::Deserialize;
use toml_parser::Source;
use toml_parser::lexer::TokenKind;

/// Below this many tasks the whole-document parse is fast enough and cutting buys nothing.
const MIN_TASKS: usize = 20_000;

/// Tasks per piece: small enough for a piece's tree to stay in cache, large enough for
/// the per-piece overhead (one `toml::from_str` and a `Vec`) to vanish.
const TASKS_PER_PIECE: usize = 4_096;

/// One piece of the task region, parsed on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Piece {
    #[serde(default)]
    tasks: Vec<TaskFile>,
}

/// What a top-level header opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Header {
    /// `[[tasks]]`: the next task.
    Task,
    /// `[tasks.metadata]`, `[tasks.command]` …: a table of the task above.
    TaskPart,
    /// Any other table.
    Other,
}

/// Parses `text` as a scenario by pieces, or `None` if the text is small, not cut
/// cleanly, or has any error (the caller then parses it whole).
pub(super) fn parse(text: &str) -> Option<ScenarioFile> {
    parse_with(text, MIN_TASKS, TASKS_PER_PIECE)
}

/// [`parse`] of a text of at least `min_tasks` tasks (and at least one), cut into pieces
/// of `per_piece` tasks: the tests and the fuzz target `pieces` cut small texts finely.
pub(super) fn parse_with(text: &str, min_tasks: usize, per_piece: usize) -> Option<ScenarioFile> {
    assert!(per_piece > 0, "pieces of no task");
    let headers = headers(text)?;
    let starts: Vec<usize> = headers
        .iter()
        .filter(|(_, kind)| *kind == Header::Task)
        .map(|(at, _)| *at)
        .collect();
    if starts.len() < min_tasks.max(1) {
        return None;
    }
    // The task region runs from the first `[[tasks]]` to the first other table after it;
    // no `[[tasks]]` may come after that.
    let first = starts[0];
    let end = headers
        .iter()
        .find(|(at, kind)| *at > first && *kind == Header::Other)
        .map_or(text.len(), |(at, _)| *at);
    if *starts.last()? > end {
        return None;
    }
    let rest = format!("{}{}", &text[..first], &text[end..]);
    let mut pieces: Vec<(usize, usize)> = starts
        .chunks(per_piece)
        .map(|chunk| (chunk[0], 0))
        .collect();
    for i in 0..pieces.len() {
        pieces[i].1 = pieces.get(i + 1).map_or(end, |next| next.0);
    }
    let (head, tasks) = rayon::join(
        || parse_rest(&rest),
        || {
            pieces
                .par_iter()
                .map(|&(from, to)| toml::from_str::<Piece>(&text[from..to]).ok())
                .collect::<Option<Vec<Piece>>>()
        },
    );
    let mut file = head?;
    let tasks = tasks?;
    file.tasks = Vec::with_capacity(starts.len());
    for piece in tasks {
        file.tasks.extend(piece.tasks);
    }
    (file.tasks.len() == starts.len()).then_some(file)
}

/// The file without its tasks, which must not name `tasks` at all (a `tasks = []` there
/// and `[[tasks]]` tables together are an error of the whole document).
///
/// Typed by the same deserializer as the whole document, not through a `toml::Value`:
/// that one hands a date or time on as a string, so `id = 07:32:00` in an agent passed
/// here while the whole document refused it (fuzz round 20). The text is the file's head
/// only, small beside its tasks, and read twice: once for the check, once typed.
fn parse_rest(rest: &str) -> Option<ScenarioFile> {
    let table: toml::Table = toml::from_str(rest).ok()?;
    if table.contains_key("tasks") {
        return None;
    }
    toml::from_str(rest).ok()
}

/// The byte offset and kind of every top-level table header, or `None` if the lexer
/// finds something it cannot read (the whole-document parse will say what).
fn headers(text: &str) -> Option<Vec<(usize, Header)>> {
    let mut headers = Vec::new();
    // Brackets of values (arrays, inline tables), which may span lines.
    let mut depth = 0usize;
    // An `=` was seen outside any value on this line: a `[` now opens an array.
    let mut after_equals = false;
    // Nothing but whitespace since the last newline outside any value.
    let mut line_start = true;
    for token in Source::new(text).lex() {
        let span = token.span();
        match token.kind() {
            TokenKind::Newline => {
                if depth == 0 {
                    after_equals = false;
                    line_start = true;
                }
            }
            TokenKind::Whitespace | TokenKind::Comment => {}
            TokenKind::Equals => {
                if depth == 0 {
                    after_equals = true;
                }
                line_start = false;
            }
            TokenKind::LeftSquareBracket if depth == 0 && line_start && !after_equals => {
                let line = &text[span.start()..];
                let line = &line[..line.find('\n').unwrap_or(line.len())];
                headers.push((span.start(), classify(line)));
                line_start = false;
            }
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => {
                if after_equals || depth > 0 {
                    depth += 1;
                }
                line_start = false;
            }
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                depth = depth.saturating_sub(1);
                line_start = false;
            }
            TokenKind::Eof => break,
            _ => line_start = false,
        }
    }
    (depth == 0).then_some(headers)
}

/// What the header on `line` (from its first `[` to the end of the line) opens. Spellings
/// this does not know (quoted keys) count as other tables, which at worst sends the file
/// to the whole-document parse.
fn classify(line: &str) -> Header {
    let line = line.split('#').next().unwrap_or("");
    let compact: String = line
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\r'))
        .collect();
    if compact == "[[tasks]]" {
        Header::Task
    } else if compact.starts_with("[tasks.") || compact.starts_with("[[tasks.") {
        Header::TaskPart
    } else {
        Header::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Format;
    use proptest::prelude::*;
    use std::fmt::Write;

    fn big(tasks: usize, extra: &str) -> String {
        let mut text = String::from("time_unit = \"seconds\"\n[config]\nmax_agents = 2\n");
        text.push_str("[[agents]]\ncount = 2\n");
        for i in 0..tasks {
            write!(
                text,
                "\n[[tasks]]\nid = \"t{i}\"\nestimated_duration = {}\n",
                i % 7 + 1
            )
            .unwrap();
            if i % 1000 == 5 {
                text.push_str(
                    "depends_on = [\n  \"t0\",\n]\ndescription = \"\"\"\n[[tasks]]\nnot a header\"\"\"\n[tasks.metadata]\nk = [[1], [2]]\n",
                );
            }
        }
        text.push_str(extra);
        text
    }

    #[test]
    fn pieces_give_what_the_whole_document_gives() {
        let text = big(MIN_TASKS + 5_000, "\n[simulation]\nseed = 3\n");
        let whole: ScenarioFile = toml::from_str(&text).unwrap();
        let fast = parse(&text).expect("a clean file is cut");
        assert_eq!(fast, whole);
        assert_eq!(fast.tasks.len(), MIN_TASKS + 5_000);
        assert!(
            fast.tasks[5]
                .description
                .as_deref()
                .unwrap()
                .contains("[[tasks]]")
        );
    }

    /// Fuzz round 19's `pieces` finding: `estimated_duration = -nan` read the same by the
    /// pieces and by the whole, but `==` refuses NaN, so the check called it a disagreement.
    #[test]
    fn a_nan_reads_the_same_in_pieces_and_whole() {
        let text = "[[tasks]]\nid = \"a\"\nestimated_duration = 0.7\n\n\
                    [[tasks]]\nid = \"b\"\nestimated_duration =-nan\n";
        for per_piece in 1..=2 {
            assert_eq!(
                ScenarioFile::check_pieces(text, Format::Toml, per_piece),
                Ok(true)
            );
        }
        // Still a scenario no run accepts: the resolution refuses the NaN, naming it.
        let refused = crate::model::Scenario::parse(text, Format::Toml, "nan.toml")
            .and_then(|(scenario, issues)| crate::plan::Plan::from_scenario(scenario, issues))
            .expect_err("a NaN estimate is refused");
        assert!(
            refused.to_string().contains("duration `NaN` is not finite"),
            "{refused}"
        );
    }

    /// Fuzz round 20's `pieces` finding: a TOML time where the head wants a string was
    /// read as a string by the pieces (through a `toml::Value`) and refused by the whole.
    #[test]
    fn a_date_in_the_head_is_refused_by_the_pieces_as_by_the_whole() {
        for value in ["07:32:00", "1979-05-27", "1979-05-27T07:32:00Z"] {
            let text = format!(
                "[[agents]]\nid = {value}\n\n[[tasks]]\nid = \"a\"\nestimated_duration = 1\n"
            );
            assert!(toml::from_str::<ScenarioFile>(&text).is_err(), "{text}");
            assert_eq!(
                ScenarioFile::check_pieces(&text, Format::Toml, 1),
                Ok(false),
                "{text}"
            );
        }
    }

    #[test]
    fn anything_unusual_goes_to_the_whole_document_parse() {
        // Small files.
        assert!(parse(&big(10, "")).is_none());
        // A task after another table.
        assert!(
            parse(&big(
                MIN_TASKS,
                "\n[simulation]\nseed = 3\n[[tasks]]\nid = \"z\"\nestimated_duration = 1\n"
            ))
            .is_none()
        );
        // `tasks` named outside the task tables.
        let mut text = big(MIN_TASKS, "");
        text.insert_str(0, "tasks = []\n");
        assert!(parse(&text).is_none());
        assert!(toml::from_str::<ScenarioFile>(&text).is_err());
        // Any error in a piece.
        let text = big(
            MIN_TASKS,
            "\n[[tasks]]\nid = \"bad\"\nestimated_duration = 1\ncolour = 1\n",
        );
        assert!(parse(&text).is_none());
    }

    /// Stretches of a scenario: task tables whose strings and arrays hold header-like
    /// lines, sub-tables of a task, other tables, `tasks` as a key, and broken ones.
    fn stretch() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "[[tasks]]\nid = \"a\"\nestimated_duration = 1\n",
            "[[tasks]]\nid = \"b\"\nestimated_duration = 2\ndescription = \"\"\"\n[[tasks]]\nnot a header\"\"\"\n",
            "[[tasks]]\nid = 'c'\nestimated_duration = 3\ndepends_on = [\n  \"a\",\n[\"x\"]]\n",
            "[[tasks]]\nid = \"d\"\nestimated_duration = 4\n[tasks.metadata]\nk = [[1], [2]]\n",
            "[[ tasks ]] # a comment\nid = \"e\"\nestimated_duration = 5\n",
            "[[tasks]]\nid = \"f\"\nestimated_duration = 1\ntitle = '''\n[x]\n'''\n",
            "[[tasks]]\nid = \"g\"\nestimated_duration = 1\ncolour = 1\n",
            "[[tasks]]\nid = \"h\"\n",
            "[[\"tasks\"]]\nid = \"i\"\nestimated_duration = 1\n",
            "[simulation]\nseed = 3\n",
            "[config]\nmax_agents = 2\n",
            "tasks = []\n",
            "[tasks]\n",
            "[[tasks]\n",
            "id = \"unterminated\n",
            "k = [\n",
            "# [[tasks]]\n",
        ])
        .prop_map(str::to_string)
    }

    proptest! {
        /// Whatever the pieces give, the whole-document parse gives too.
        #[test]
        fn pieces_never_disagree_with_the_whole(
            head in prop::sample::select(vec!["", "tasks = []\n", "time_unit = \"seconds\"\n"]),
            stretches in prop::collection::vec(stretch(), 0..12),
            per_piece in 1usize..4,
        ) {
            let text = format!("{head}[[agents]]\ncount = 2\n{}", stretches.concat());
            let checked = ScenarioFile::check_pieces(&text, Format::Toml, per_piece);
            prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
        }
    }

    #[test]
    fn headers_are_told_apart() {
        assert_eq!(classify("[[tasks]]"), Header::Task);
        assert_eq!(classify("[[ tasks ]] # next"), Header::Task);
        assert_eq!(classify("[tasks.metadata]"), Header::TaskPart);
        assert_eq!(classify("[simulation]"), Header::Other);
        assert_eq!(classify("[[\"tasks\"]]"), Header::Other);
        let found = headers("a = [\n[1],\n]\n[x]\n  [[tasks]]\ns = '''\n[y]'''\n").unwrap();
        assert_eq!(
            found.iter().map(|(_, k)| *k).collect::<Vec<_>>(),
            vec![Header::Other, Header::Task]
        );
    }
}
