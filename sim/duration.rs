//! Durations as scenario files write them: `"250ms"`, `"15s"`, `"1.5m"`,
//! `"2h"`, `"100us"`, or a bare number of seconds.
//!
//! Everything inside a run is an integer number of microseconds; this module
//! is the only place where text becomes time and time becomes text.

/// Microseconds in one second.
pub const SECOND: u64 = 1_000_000;

/// Parses a duration. Errors say what was wrong, for the scenario validator.
pub fn parse(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t.starts_with('-') {
        return Err(format!("negative duration '{text}'"));
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "'{text}' is not a duration (e.g. \"250ms\", \"15s\", \"2m\")"
        ));
    }
    let scale: f64 = match unit.trim() {
        "" | "s" => 1e6,
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        other => {
            return Err(format!(
                "unknown unit '{other}' in duration '{text}' (use us, ms, s, m or h)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (e.g. \"250ms\", \"15s\", \"2m\")"))?;
    let micros = value * scale;
    if !micros.is_finite() || micros > 1e17 {
        return Err(format!("duration '{text}' is too large"));
    }
    if micros.fract() != 0.0 {
        return Err(format!(
            "duration '{text}' is not a whole number of microseconds"
        ));
    }
    Ok(micros as u64)
}

/// Formats microseconds as seconds with six decimals, e.g. `"12.000250"`.
pub fn format_secs(micros: u64) -> String {
    format!("{}.{:06}", micros / SECOND, micros % SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("250ms"), Ok(250_000));
        assert_eq!(parse("15s"), Ok(15_000_000));
        assert_eq!(parse("15"), Ok(15_000_000));
        assert_eq!(parse("1.5m"), Ok(90_000_000));
        assert_eq!(parse("2h"), Ok(7_200_000_000));
        assert_eq!(parse("100us"), Ok(100));
        assert_eq!(parse(" 0s "), Ok(0));
        assert_eq!(parse("0.000001s"), Ok(1));
    }

    #[test]
    fn bad_durations() {
        assert_eq!(parse("-5s"), Err("negative duration '-5s'".to_string()));
        assert!(parse("5 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse("").is_err());
        assert!(parse("abc").is_err());
        assert!(parse("1.2.3s").unwrap_err().contains("not a duration"));
        assert!(parse("0.5us").unwrap_err().contains("whole number"));
        assert!(parse("1e30h").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_secs(12_000_250), "12.000250");
        assert_eq!(format_secs(0), "0.000000");
    }
}
