//! Times on the command line: the API speaks epoch milliseconds, people speak `10m` ago, `30d`
//! from now, or RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Which way a duration counts from now.
#[derive(Debug, Clone, Copy)]
pub(super) enum Counted {
    /// `--since 10m`: ten minutes ago.
    Ago,
    /// `--expires 30d`: thirty days from now.
    Ahead,
}

/// A duration (`90s`, `10m`, `2h`, `30d`) counted from `now_ms`, an RFC 3339 time
/// (`2025-05-01T12:00:00Z`), or epoch milliseconds; the error names what was expected.
pub(super) fn parse_when(text: &str, from: Counted, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(duration) = humantime::parse_duration(text) {
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        return Ok(match from {
            Counted::Ago => now_ms.saturating_sub(ms),
            Counted::Ahead => now_ms.saturating_add(ms),
        });
    }
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        });
    }
    Err(format!(
        "{text:?}: expected a duration like 10m or 30d, an RFC 3339 time like 2025-05-01T12:00:00Z, or epoch milliseconds"
    ))
}

/// Epoch milliseconds as UTC RFC 3339, to the millisecond or the second.
pub(super) fn format_ms(ms: i64, millis: bool) -> String {
    let time = if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    };
    if millis {
        humantime::format_rfc3339_millis(time).to_string()
    } else {
        humantime::format_rfc3339_seconds(time).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn durations_count_back_or_ahead() {
        assert_eq!(parse_when("10m", Counted::Ago, NOW), Ok(NOW - 600_000));
        assert_eq!(
            parse_when("30d", Counted::Ahead, NOW),
            Ok(NOW + 30 * 86_400_000)
        );
    }

    #[test]
    fn rfc3339_and_epoch_millis_are_absolute() {
        assert_eq!(parse_when("2023-11-14T22:13:20Z", Counted::Ago, 0), Ok(NOW));
        assert_eq!(parse_when("1700000000000", Counted::Ahead, 0), Ok(NOW));
    }

    #[test]
    fn nonsense_names_what_was_expected() {
        let err = parse_when("yesterday", Counted::Ago, NOW).unwrap_err();
        assert!(
            err.contains("\"yesterday\"") && err.contains("RFC 3339"),
            "{err}"
        );
    }

    #[test]
    fn times_print_as_utc() {
        assert_eq!(format_ms(NOW + 5, true), "2023-11-14T22:13:20.005Z");
        assert_eq!(format_ms(NOW + 5, false), "2023-11-14T22:13:20Z");
    }
}
