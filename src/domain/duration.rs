//! Durations as people write them in settings and flow files: `500ms`, `45s`, `30m`, `1h`,
//! `2d`, or a sum such as `1h30m`.

use std::time::Duration;

/// Parses `text` (no spaces inside; a sum of parts, each a whole number and a unit: `ms`, `s`,
/// `m`, `h`, `d`).
pub fn parse(text: &str) -> Result<Duration, String> {
    let why = || format!("expected a duration such as 0s, 500ms, 30m, 2h, 7d or 1h30m, got {text:?}");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(why());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| why())?;
        let after = &rest[digits..];
        let unit_len = after.find(|c: char| c.is_ascii_digit()).unwrap_or(after.len());
        let ms_per = match &after[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(why()),
        };
        total += Duration::from_millis(n.checked_mul(ms_per).ok_or_else(why)?);
        rest = &after[unit_len..];
    }
    Ok(total)
}

/// Writes `d` as [`parse`] reads it, largest units first (`1d`, `2h`, `1h30m`, `45s`); parts
/// below a second are dropped.
pub fn format(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= secs {
            out.push_str(&format!("{}{unit}", s / secs));
            s %= secs;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_writes_what_parse_reads() {
        for text in ["0s", "45s", "30m", "1h30m", "2h", "1d", "7d", "1d2h"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
        assert_eq!(format(parse("24h").unwrap()), "1d");
    }

    #[test]
    fn parts_and_sums() {
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "1", "h", "1 h", "1w", "-1h", "1h30"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
