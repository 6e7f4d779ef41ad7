//! Durations in the scenario format: `"30m"`, `"45s"`, `"1.5h"`, `"250ms"`, or a bare number
//! in the scenario's `time_unit`. Everything inside taskdist is integer milliseconds
//! ([`Time`]); this module is the one place that turns text into that and back.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in time or a span of time, in whole milliseconds.
///
/// The core never reads a clock: drivers pass `now` as a `Time` measured from the start of
/// the run, so the same inputs give the same decisions under a simulated or a real clock.
pub type Time = u64;

/// Milliseconds in one second.
pub const SECOND_MS: Time = 1_000;
/// Milliseconds in one minute.
pub const MINUTE_MS: Time = 60 * SECOND_MS;
/// Milliseconds in one hour.
pub const HOUR_MS: Time = 60 * MINUTE_MS;

/// The longest duration a scenario may give (10 years). Plans add durations up (total
/// work, critical path, deadlines); this cap keeps those sums far from `u64` overflow for
/// any scenario that fits in memory.
const MAX_DURATION_MS: Time = 10 * 365 * 24 * HOUR_MS;

/// The unit of bare numbers in a scenario (`time_unit = "minutes"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Milliseconds (`"ms"`).
    #[serde(alias = "ms", alias = "millisecond")]
    Milliseconds,
    /// Seconds (`"s"`).
    #[serde(alias = "s", alias = "sec", alias = "second")]
    Seconds,
    /// Minutes, the default, as in the original TaskDistributor (`"m"`).
    #[default]
    #[serde(alias = "m", alias = "min", alias = "minute")]
    Minutes,
    /// Hours (`"h"`).
    #[serde(alias = "h", alias = "hour")]
    Hours,
}

impl TimeUnit {
    /// Milliseconds in one of this unit.
    pub fn millis(self) -> f64 {
        match self {
            TimeUnit::Milliseconds => 1.0,
            TimeUnit::Seconds => SECOND_MS as f64,
            TimeUnit::Minutes => MINUTE_MS as f64,
            TimeUnit::Hours => HOUR_MS as f64,
        }
    }
}

/// A duration as written in a scenario file, before the time unit is applied.
///
/// Read by a visitor of its own rather than as an untagged enum, which would first copy
/// every value into serde's buffer to try each variant in turn: a million-task file has a
/// million of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DurationText {
    /// A bare number, in the scenario's `time_unit`.
    Number(f64),
    /// A number with a unit suffix: `"30m"`, `"1.5h"`, `"250ms"`, `"45s"`.
    Text(String),
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}

/// Takes a number of any kind as [`DurationText::Number`] and text as
/// [`DurationText::Text`]; anything else is an error that says what a duration is.
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = DurationText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration: a number, or text such as \"30m\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationText, E> {
        Ok(DurationText::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationText, E> {
        Ok(DurationText::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationText, E> {
        Ok(DurationText::Number(v as f64))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
        Ok(DurationText::Text(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<DurationText, E> {
        Ok(DurationText::Text(v))
    }
}

impl From<Time> for DurationText {
    /// Writes whole milliseconds in the most readable exact unit (`"90s"`, `"30m"`).
    fn from(ms: Time) -> Self {
        DurationText::Text(format_exact(ms))
    }
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// The text is not a number followed by a known unit.
    #[error("`{0}` is not a duration (use a number with ms, s, m or h, e.g. \"30m\")")]
    Malformed(String),
    /// The value is below zero.
    #[error("duration `{0}` is negative")]
    Negative(String),
    /// The value is infinite or not a number.
    #[error("duration `{0}` is not finite")]
    NotFinite(String),
    /// The value is longer than 10 years.
    #[error("duration `{0}` is too large (at most 10 years)")]
    TooLarge(String),
}

impl DurationText {
    /// Converts to milliseconds, rounding to the nearest millisecond.
    pub fn to_millis(&self, unit: TimeUnit) -> Result<Time, DurationError> {
        match self {
            DurationText::Number(n) => scale(*n, unit.millis(), || format_number(*n)),
            DurationText::Text(text) => parse_duration(text, unit),
        }
    }
}

/// Parses `"30m"`, `"1.5h"`, `"250ms"`, `"45s"`, or a bare number in `unit`.
pub fn parse_duration(text: &str, unit: TimeUnit) -> Result<Time, DurationError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(split);
    let per_unit = match suffix.trim().to_ascii_lowercase().as_str() {
        "" => unit.millis(),
        "ms" => 1.0,
        "s" | "sec" | "secs" => SECOND_MS as f64,
        "m" | "min" | "mins" => MINUTE_MS as f64,
        "h" | "hr" | "hrs" => HOUR_MS as f64,
        _ => {
            return Err(classify_word(trimmed));
        }
    };
    let value: f64 = number.trim().parse().map_err(|_| classify_word(trimmed))?;
    scale(value, per_unit, || trimmed.to_string())
}

/// "inf", "-inf" and "nan" are not malformed but non-finite; say so precisely.
fn classify_word(text: &str) -> DurationError {
    let lower = text.to_ascii_lowercase();
    let bare = lower.trim_start_matches(['+', '-']);
    if bare.starts_with("inf") || bare.starts_with("nan") {
        DurationError::NotFinite(text.to_string())
    } else {
        DurationError::Malformed(text.to_string())
    }
}

/// `shown` makes the text an error repeats; it is called only on an error, since every
/// duration of a large file passes through here.
fn scale(
    value: f64,
    per_unit_ms: f64,
    shown: impl FnOnce() -> String,
) -> Result<Time, DurationError> {
    if !value.is_finite() {
        return Err(DurationError::NotFinite(shown()));
    }
    if value < 0.0 {
        return Err(DurationError::Negative(shown()));
    }
    let ms = (value * per_unit_ms).round();
    if ms > MAX_DURATION_MS as f64 {
        return Err(DurationError::TooLarge(shown()));
    }
    Ok(ms as Time)
}

fn format_number(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

/// The exact duration in the largest unit that divides it: `"90s"`, `"30m"`, `"250ms"`.
pub fn format_exact(ms: Time) -> String {
    if ms == 0 {
        "0s".to_string()
    } else if ms.is_multiple_of(HOUR_MS) {
        format!("{}h", ms / HOUR_MS)
    } else if ms.is_multiple_of(MINUTE_MS) {
        format!("{}m", ms / MINUTE_MS)
    } else if ms.is_multiple_of(SECOND_MS) {
        format!("{}s", ms / SECOND_MS)
    } else {
        format!("{ms}ms")
    }
}

/// A readable duration for people: `1h 05m`, `12m 30s`, `4.2s`, `250ms`.
pub struct Human(pub Time);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms >= HOUR_MS {
            write!(f, "{}h {:02}m", ms / HOUR_MS, (ms % HOUR_MS) / MINUTE_MS)
        } else if ms >= MINUTE_MS {
            write!(
                f,
                "{}m {:02}s",
                ms / MINUTE_MS,
                (ms % MINUTE_MS) / SECOND_MS
            )
        } else if ms >= SECOND_MS {
            write!(f, "{:.1}s", ms as f64 / SECOND_MS as f64)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Milliseconds as fractional seconds, the unit of every machine-readable output.
pub fn seconds(ms: Time) -> f64 {
    ms as f64 / SECOND_MS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse() {
        assert_eq!(parse_duration("30m", TimeUnit::Minutes), Ok(30 * MINUTE_MS));
        assert_eq!(parse_duration("45s", TimeUnit::Minutes), Ok(45 * SECOND_MS));
        assert_eq!(
            parse_duration("1.5h", TimeUnit::Minutes),
            Ok(90 * MINUTE_MS)
        );
        assert_eq!(parse_duration("250ms", TimeUnit::Minutes), Ok(250));
        assert_eq!(
            parse_duration(" 2 min ", TimeUnit::Seconds),
            Ok(2 * MINUTE_MS)
        );
        assert_eq!(parse_duration("1e3ms", TimeUnit::Seconds), Ok(1_000));
    }

    #[test]
    fn bare_numbers_use_the_time_unit() {
        assert_eq!(
            DurationText::Number(30.0).to_millis(TimeUnit::Minutes),
            Ok(30 * MINUTE_MS)
        );
        assert_eq!(
            DurationText::Number(1.5).to_millis(TimeUnit::Seconds),
            Ok(1_500)
        );
        assert_eq!(parse_duration("12", TimeUnit::Hours), Ok(12 * HOUR_MS));
    }

    #[test]
    fn bad_durations_are_named() {
        assert!(matches!(
            parse_duration("-5m", TimeUnit::Minutes),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(
            parse_duration("soon", TimeUnit::Minutes),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("30 parsecs", TimeUnit::Minutes),
            Err(DurationError::Malformed(_))
        ));
        assert!(matches!(
            parse_duration("inf", TimeUnit::Minutes),
            Err(DurationError::NotFinite(_))
        ));
        assert!(matches!(
            DurationText::Number(f64::NAN).to_millis(TimeUnit::Minutes),
            Err(DurationError::NotFinite(_))
        ));
        assert!(matches!(
            DurationText::Number(-1.0).to_millis(TimeUnit::Minutes),
            Err(DurationError::Negative(_))
        ));
        assert_eq!(
            parse_duration("87600h", TimeUnit::Minutes),
            Ok(MAX_DURATION_MS)
        );
        assert!(matches!(
            parse_duration("1e12h", TimeUnit::Minutes),
            Err(DurationError::TooLarge(_))
        ));
    }

    /// Numbers of every kind and text read as before (as the untagged enum did), in both
    /// formats; anything else says what a duration is.
    #[test]
    fn durations_read_from_files() {
        #[derive(Deserialize)]
        struct Row {
            d: DurationText,
        }
        let json = |text: &str| serde_json::from_str::<Row>(text).map(|r| r.d);
        let toml = |text: &str| toml::from_str::<Row>(text).map(|r| r.d);
        assert_eq!(json(r#"{"d":5}"#).unwrap(), DurationText::Number(5.0));
        assert_eq!(json(r#"{"d":-5}"#).unwrap(), DurationText::Number(-5.0));
        assert_eq!(json(r#"{"d":1.5e1}"#).unwrap(), DurationText::Number(15.0));
        assert_eq!(
            json(r#"{"d":"30m"}"#).unwrap(),
            DurationText::Text("30m".into())
        );
        assert_eq!(
            json(r#"{"d":"a\"b"}"#).unwrap(),
            DurationText::Text("a\"b".into())
        );
        assert_eq!(toml("d = 5").unwrap(), DurationText::Number(5.0));
        assert_eq!(toml("d = -2.5").unwrap(), DurationText::Number(-2.5));
        assert_eq!(toml("d = '1h'").unwrap(), DurationText::Text("1h".into()));
        assert!(matches!(toml("d = nan").unwrap(), DurationText::Number(n) if n.is_nan()));
        for text in [
            r#"{"d":true}"#,
            r#"{"d":[1]}"#,
            r#"{"d":{}}"#,
            r#"{"d":null}"#,
        ] {
            let message = json(text).unwrap_err().to_string();
            assert!(
                message.contains("expected a duration: a number, or text such as \"30m\""),
                "{message}"
            );
        }
        let message = toml("d = true").unwrap_err().to_string();
        assert!(message.contains("expected a duration"), "{message}");
    }

    #[test]
    fn formatting_round_trips() {
        for ms in [
            0,
            250,
            1_500,
            45 * SECOND_MS,
            30 * MINUTE_MS,
            90 * MINUTE_MS,
            2 * HOUR_MS,
        ] {
            assert_eq!(parse_duration(&format_exact(ms), TimeUnit::Minutes), Ok(ms));
        }
        assert_eq!(Human(65 * MINUTE_MS).to_string(), "1h 05m");
        assert_eq!(Human(750 * SECOND_MS).to_string(), "12m 30s");
    }
}
