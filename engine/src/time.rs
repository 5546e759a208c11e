//! Virtual time as the driver hands it to the engine, and the XEP-0082
//! date-time format used in `urn:xmpp:delay` stamps.
//!
//! The engine never reads a clock. `Time` is an integer count of microseconds
//! since the start of a run; a server maps it to a calendar date through the
//! configured epoch (`ServerConfig::epoch_unix_secs`).

/// A point in virtual time, in microseconds since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_secs(secs: u64) -> Time {
        Time(secs * 1_000_000)
    }

    pub fn from_millis(ms: u64) -> Time {
        Time(ms * 1_000)
    }

    pub fn as_micros(self) -> u64 {
        self.0
    }

    pub fn saturating_add_micros(self, micros: u64) -> Time {
        Time(self.0.saturating_add(micros))
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// Formats `epoch_unix_secs + t` as a XEP-0082 DateTime in UTC.
///
/// Whole seconds are written as `YYYY-MM-DDThh:mm:ssZ`; a fractional part is
/// written with six digits, as Prosody's util.datetime does.
pub fn xep0082_datetime(epoch_unix_secs: i64, t: Time) -> String {
    let micros = t.0 % 1_000_000;
    let secs = epoch_unix_secs + (t.0 / 1_000_000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let Ok(year @ 0..=9999) = u64::try_from(y) else {
        // Outside four digits: as `format!` pads and signs it.
        return if micros == 0 {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
        } else {
            format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}Z")
        };
    };
    // Every delayed presence carries a stamp: digits written directly
    // rather than through the formatting machinery.
    let mut out = String::with_capacity(27);
    let fields = [
        (year, 4, '-'),
        (u64::from(m), 2, '-'),
        (u64::from(d), 2, 'T'),
        (hh as u64, 2, ':'),
        (mm as u64, 2, ':'),
        (ss as u64, 2, '.'),
    ];
    for (value, width, after) in fields {
        push_digits(&mut out, value, width);
        if after != '.' || micros != 0 {
            out.push(after);
        }
    }
    if micros != 0 {
        push_digits(&mut out, micros, 6);
    }
    out.push('Z');
    out
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u64, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u64.pow(place)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days` algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_offsets() {
        assert_eq!(xep0082_datetime(0, Time::ZERO), "1970-01-01T00:00:00Z");
        // 2026-01-01T00:00:00Z
        assert_eq!(
            xep0082_datetime(1_767_225_600, Time::from_secs(3661)),
            "2026-01-01T01:01:01Z"
        );
        assert_eq!(
            xep0082_datetime(1_767_225_600, Time(1_500_000)),
            "2026-01-01T00:00:01.500000Z"
        );
        // leap day
        assert_eq!(
            xep0082_datetime(951_782_400, Time::ZERO),
            "2000-02-29T00:00:00Z"
        );
    }

    /// The digits written directly are what the formatting machinery
    /// writes, over years, days, seconds and microseconds.
    #[test]
    fn matches_format_everywhere() {
        let reference = |epoch: i64, t: Time| {
            let micros = t.0 % 1_000_000;
            let secs = epoch + (t.0 / 1_000_000) as i64;
            let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
            let (y, m, d) = civil_from_days(days);
            let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
            if micros == 0 {
                format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
            } else {
                format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}Z")
            }
        };
        let mut t = 0u64;
        for epoch in [
            0,
            951_782_400,
            1_767_225_600,
            253_402_300_799,
            -62_198_755_200,
        ] {
            for _ in 0..2_000 {
                assert_eq!(xep0082_datetime(epoch, Time(t)), reference(epoch, Time(t)));
                t = t
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407)
                    % 400_000_000_000_000;
                if t % 3 == 0 {
                    t -= t % 1_000_000;
                }
            }
        }
    }
}
