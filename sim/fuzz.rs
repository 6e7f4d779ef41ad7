//! Every input kept under `fuzz/regressions/TARGET/` (crashers the fuzzers found, once
//! fixed, and a few seeds of each format) goes through the same code as the fuzz target
//! TARGET (fuzz/harness.rs): it must be accepted or refused with a message, never panic.
//! A crasher found by `scripts/fuzz.sh` lands in `fuzz/artifacts/TARGET/`; once fixed, it is
//! copied here so the normal suite keeps it fixed.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

/// The files of `dir`, sorted by name.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    files
}

/// What a fuzz target does with one input.
type Check = fn(&[u8]) -> harness::Verdict;

/// Runs every file of `fuzz/regressions/{target}` through `check`; returns how many.
fn replay(target: &str, check: Check) -> usize {
    let files = files_in(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions")
            .join(target),
    );
    for file in &files {
        let data = std::fs::read(file).expect("a regression input");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} panicked (reproduce: cd fuzz && cargo +nightly fuzz run {target} {})",
            file.display(),
            file.display()
        );
    }
    files.len()
}

#[test]
fn every_kept_fuzz_input_is_accepted_or_refused_with_a_message() {
    let targets: [(&str, Check); 8] = [
        ("scenario_toml", harness::scenario_toml),
        ("scenario_json", harness::scenario_json),
        ("pieces", harness::pieces),
        ("duration", harness::duration),
        ("stg", harness::stg),
        ("dax", harness::dax),
        ("wfcommons", harness::wfcommons),
        ("resume", harness::resume),
    ];
    for (target, check) in targets {
        assert!(replay(target, check) > 0, "{target}: no kept inputs");
    }
}

#[test]
fn the_kept_seeds_are_read_as_their_formats_intend() {
    // The seeds are real inputs of each format: a parser that refused them all would make
    // the test above pass while checking nothing past the first error.
    let read = |target: &str, name: &str, check: Check| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions")
            .join(target)
            .join(name);
        check(&std::fs::read(path).expect("a seed"))
    };
    for (target, name, check, accepted) in [
        (
            "scenario_toml",
            "seed-sleep.toml",
            harness::scenario_toml as Check,
            true,
        ),
        (
            "scenario_toml",
            "seed-cycle.toml",
            harness::scenario_toml,
            false,
        ),
        (
            "scenario_json",
            "seed-garbage",
            harness::scenario_json,
            false,
        ),
        ("pieces", "seed-toml", harness::pieces, true),
        ("pieces", "seed-json", harness::pieces, true),
        ("duration", "seed-30m", harness::duration, true),
        ("stg", "seed-small.stg", harness::stg, true),
        ("dax", "seed-heft.dax", harness::dax, true),
        ("wfcommons", "seed-tiny.json", harness::wfcommons, true),
        ("resume", "seed", harness::resume, true),
    ] {
        let verdict = read(target, name, check);
        assert_eq!(
            matches!(verdict, harness::Verdict::Accepted),
            accepted,
            "{target}/{name}: {verdict:?}"
        );
    }
}

/// One entry of a libFuzzer dictionary (`"value"` or `name="value"`), as libFuzzer reads
/// it: inside the quotes only `\\`, `\"` and `\xHH` escapes, and no bare quote. Returns
/// the bytes, or what is wrong.
fn dictionary_entry(line: &str) -> Result<Vec<u8>, String> {
    let quoted = match line.find('"') {
        Some(0) => line,
        Some(at)
            if line[..at].strip_suffix('=').is_some_and(|name| {
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }) =>
        {
            &line[at..]
        }
        _ => return Err("not `\"value\"` nor `name=\"value\"`".into()),
    };
    let inner = quoted
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or("the value does not end with a quote")?;
    let mut bytes = Vec::new();
    let mut rest = inner.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'"' => return Err("a bare quote inside the value".into()),
            b'\\' => match rest {
                [b'\\' | b'"', tail @ ..] => {
                    bytes.push(rest[0]);
                    rest = tail;
                }
                [b'x', hi, lo, tail @ ..] => {
                    let hex = std::str::from_utf8(&[*hi, *lo])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or("`\\x` without two hex digits")?;
                    bytes.push(hex);
                    rest = tail;
                }
                _ => return Err("an escape other than \\\\, \\\" or \\xHH".into()),
            },
            _ => bytes.push(b),
        }
    }
    if bytes.is_empty() {
        return Err("an empty value".into());
    }
    Ok(bytes)
}

/// The dictionaries scripts/fuzz.sh hands libFuzzer must parse: a line libFuzzer cannot
/// read stops the run at its start with an exit status the script would report as a
/// finding. Each file also holds no entry twice.
#[test]
fn every_fuzz_dictionary_is_valid_libfuzzer_syntax() {
    let files = files_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/dicts"));
    assert_eq!(files.len(), 7, "{files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a dictionary");
        let mut seen = std::collections::BTreeSet::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = dictionary_entry(line)
                .unwrap_or_else(|e| panic!("{}:{}: {e}: {line}", file.display(), n + 1));
            assert!(
                seen.insert(entry),
                "{}:{}: {line} is there twice",
                file.display(),
                n + 1
            );
        }
        assert!(
            seen.len() >= 20,
            "{}: {} entries",
            file.display(),
            seen.len()
        );
    }
}

#[test]
fn dictionary_entries_are_read_as_libfuzzer_reads_them() {
    assert_eq!(dictionary_entry(r#""ab""#).unwrap(), b"ab");
    assert_eq!(dictionary_entry(r#"kw_1="ab""#).unwrap(), b"ab");
    assert_eq!(
        dictionary_entry(r#""\\\"\x0a\xFF""#).unwrap(),
        b"\\\"\n\xff"
    );
    for bad in [
        r#"ab"#,
        r#""ab"#,
        r#""a"b""#,
        r#""\n""#,
        r#""\x4""#,
        r#""\xZZ""#,
        r#""""#,
        r#"k-w="a""#,
        r#"kw "a""#,
    ] {
        assert!(dictionary_entry(bad).is_err(), "{bad} was read");
    }
}

#[test]
fn the_documents_structure_derived_seeds_start_from_are_accepted() {
    // scripts/fuzz_seeds.py derives its seeds from these: one the loader refused would
    // give variants of its first error only, not of every field.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let files: Vec<PathBuf> = files_in(&dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    assert!(files.len() >= 2, "{}: no seed documents", dir.display());
    for file in &files {
        let data = std::fs::read(file).expect("a seed document");
        let verdict = harness::scenario_toml(&data);
        assert!(
            matches!(verdict, harness::Verdict::Accepted),
            "{}: {verdict:?}",
            file.display()
        );
        // The `pieces` target reads its first byte as the format and the piece size.
        let mut pieces = vec![0u8];
        pieces.extend_from_slice(&data);
        let verdict = harness::pieces(&pieces);
        assert!(
            matches!(verdict, harness::Verdict::Accepted),
            "{} by pieces: {verdict:?}",
            file.display()
        );
    }
    // `wfcommons`' document of the schema before 1.5 (tasks with inline files), under
    // either name the importer reads for its task list.
    let inline = std::fs::read_to_string(dir.join("wfcommons-inline.json"))
        .expect("fuzz/seeds/wfcommons-inline.json");
    for text in [inline.clone(), inline.replace("\"tasks\"", "\"jobs\"")] {
        let verdict = harness::wfcommons(text.as_bytes());
        assert!(
            matches!(verdict, harness::Verdict::Accepted),
            "wfcommons-inline.json: {verdict:?}"
        );
    }
    // `resume`'s: a journal of every kind of call, for `scenarios/sleep.toml`'s run.
    let journal = std::fs::read(dir.join("journal.txt")).expect("fuzz/seeds/journal.txt");
    let verdict = harness::resume(&journal);
    assert!(
        matches!(verdict, harness::Verdict::Accepted),
        "journal.txt: {verdict:?}"
    );
}
