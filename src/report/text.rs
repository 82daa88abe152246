//! Small text formatting shared by the pages and the chart: numbers, shares,
//! file names and UTC times.

/// `x` with `digits` decimals; a dash for NaN and infinities.
pub(super) fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "—".to_string()
    }
}

/// `x` with `digits` decimals and an explicit sign (`+0.12`, `−0.05`).
pub(super) fn signed(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return "—".to_string();
    }
    let s = format!("{:.digits$}", x.abs());
    // Zero after rounding has no sign.
    if s.bytes().all(|b| b == b'0' || b == b'.') {
        s
    } else if x < 0.0 {
        format!("−{s}")
    } else {
        format!("+{s}")
    }
}

/// A rating as people write it: `7`, `2.5`, `7.25` (at most two decimals,
/// no trailing zeros); a dash for NaN and infinities.
pub(super) fn rating(x: f64) -> String {
    if !x.is_finite() {
        return "—".to_string();
    }
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// `x` (a share) as a percentage with one decimal.
pub(super) fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "—".to_string()
    }
}

/// The last component of a `/` or `\` separated path.
pub(super) fn file_name(path: &str) -> String {
    path.rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or(path)
        .to_string()
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub(super) fn utc_datetime(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The proleptic Gregorian (year, month, day) of `days` since 1970-01-01
/// (Howard Hinnant's `civil_from_days`: eras of 400 years, March-based years
/// so the leap day falls at the end).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00 UTC");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.
        assert_eq!(utc_datetime(951_827_696), "2000-02-29 12:34 UTC");
        assert_eq!(utc_datetime(1_709_251_199), "2024-02-29 23:59 UTC");
        assert_eq!(utc_datetime(1_709_251_200), "2024-03-01 00:00 UTC");
        // 2100 is not a leap year.
        assert_eq!(utc_datetime(4_107_456_000), "2100-02-28 00:00 UTC");
        assert_eq!(utc_datetime(4_107_542_400), "2100-03-01 00:00 UTC");
        assert_eq!(utc_datetime(1_767_225_599), "2025-12-31 23:59 UTC");
    }

    #[test]
    fn civil_from_days_round_trips_every_day_of_four_centuries() {
        // Against a plain day-by-day count from 1970-01-01.
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        for days in 0..146_097 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            d += 1;
            if d > len[m as usize - 1] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn numbers_format_with_signs_and_dashes() {
        assert_eq!(num(0.12345, 3), "0.123");
        assert_eq!(num(f64::NAN, 3), "—");
        assert_eq!(signed(0.117, 3), "+0.117");
        assert_eq!(signed(-0.05, 2), "−0.05");
        assert_eq!(signed(-0.0001, 2), "0.00");
        assert_eq!(pct(0.327), "32.7%");
        assert_eq!(rating(7.0), "7");
        assert_eq!(rating(2.5), "2.5");
        assert_eq!(rating(7.254), "7.25");
        assert_eq!(rating(10.0), "10");
        assert_eq!(rating(-0.001), "0");
        assert_eq!(file_name("a/b\\c.png"), "c.png");
        assert_eq!(file_name("/x/y/"), "y");
    }
}
