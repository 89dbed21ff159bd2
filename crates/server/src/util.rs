//! Small pieces the handlers share: identifiers and tokens, RFC 3339 times,
//! percent-decoding, a constant-time comparison.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `n` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    getrandom::getrandom(&mut bytes).expect("the OS random source works");
    bytes
}

/// An E2B sandbox ID: `i` and 20 lowercase alphanumerics (E2B's proxy
/// accepts nothing else).
pub(crate) fn sandbox_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::from("i");
    // 36 does not divide 256: draw again above the last whole multiple.
    while id.len() < 21 {
        for byte in random_bytes(32) {
            if byte < 252 && id.len() < 21 {
                id.push(ALPHABET[(byte % 36) as usize] as char);
            }
        }
    }
    id
}

/// `n` random bytes as lowercase hex.
pub(crate) fn hex_token(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new API key in the form the SDKs expect: `e2b_` and hex.
pub(crate) fn api_key() -> String {
    format!("e2b_{}", hex_token(20))
}

/// Compares secrets without leaking where they differ through timing.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) use e2b_native_kernels::reply::rfc3339;

/// Parses RFC 3339 (`2026-01-02T03:04:05Z`, fractions and offsets allowed).
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let mut date = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (date.next()??, date.next()??, date.next()??);
    let (clock, offset_secs) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (clock, offset) = time.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (oh, om) = offset[1..].split_once(':')?;
        (
            clock,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().take(9).collect();
        digits.parse::<u64>().ok()? * 10u64.pow(9 - digits.len() as u32)
    };
    let secs = days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

// Howard Hinnant's algorithm for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set).
pub(crate) fn percent_decode(text: &str, plus: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// E2B's metadata filter: one parameter holding `k1=v1&k2=v2`, each key and
/// value percent-encoded (the API unescapes the whole, splits, unescapes
/// each part).
pub(crate) fn parse_metadata_filter(query: &str) -> Vec<(String, String)> {
    percent_decode(query, false)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_ids_look_like_e2b_ones() {
        for _ in 0..100 {
            let id = sandbox_id();
            assert_eq!(id.len(), 21);
            assert!(id.starts_with('i'));
            assert!(id[1..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        }
        assert_ne!(sandbox_id(), sandbox_id());
        assert!(api_key().starts_with("e2b_") && api_key().len() == 44);
    }

    #[test]
    fn times_round_trip() {
        let t = UNIX_EPOCH + Duration::from_micros(1_767_323_045_123_456);
        assert_eq!(rfc3339(t), "2026-01-02T03:04:05.123456Z");
        assert_eq!(parse_rfc3339("2026-01-02T03:04:05.123456Z"), Some(t));
        assert_eq!(parse_rfc3339("2026-01-02T04:04:05.123456+01:00"), Some(t));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2024-02-29T00:00:00.000000Z")
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn metadata_filters_decode_like_e2b() {
        // What the JS SDK sends for { 'a b': 'x=y', run: '1' }: each part
        // encoded, then the whole encoded again as one query parameter.
        assert_eq!(
            parse_metadata_filter("a%2520b%3Dx%253Dy%26run%3D1"),
            [("a b".into(), "x=y".into()), ("run".into(), "1".into())]
        );
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%41", false), "%zzA");
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
