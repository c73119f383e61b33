//! `Cache-Control` / `Surrogate-Control` directive lists.
//!
//! Parsed once into (name, argument) pairs so the policy asks questions
//! ("is `private` present?", "what is `max-age`?") instead of matching
//! strings. The parser never fails: a cache must act on whatever an origin
//! sends, and RFC 9111 §4.2.1 says what to do with the odd cases (duplicate
//! or invalid arguments make a response stale), which [`Seconds`] carries
//! to the policy.

/// The greatest delta-seconds value a cache needs to represent (RFC 9111
/// §1.2.2): larger values are treated as this one.
pub const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// One parsed directive list (all field lines of one header together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    entries: Vec<(String, Option<String>)>,
}

/// A delta-seconds argument, with the two failure modes RFC 9111 §4.2.1
/// distinguishes from absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seconds {
    /// The directive is not there.
    Absent,
    /// Present once (or repeated with the same value).
    Valid(u64),
    /// Present without a number, with a non-number, or repeated with
    /// different values: the response must be treated as stale.
    Invalid,
}

impl Directives {
    /// Parses every field line of one header. Names are case-insensitive
    /// (stored lower-case); arguments may be tokens or quoted strings.
    pub fn parse(values: &[&str]) -> Self {
        let mut entries = Vec::new();
        for value in values {
            for item in split_list(value) {
                let item = item.trim_matches([' ', '\t']);
                if item.is_empty() {
                    continue;
                }
                let (name, arg) = match item.split_once('=') {
                    Some((n, a)) => (n, Some(unquote(a.trim_matches([' ', '\t'])))),
                    None => (item, None),
                };
                let name = name.trim_matches([' ', '\t']).to_ascii_lowercase();
                if !name.is_empty() {
                    entries.push((name, arg));
                }
            }
        }
        Self { entries }
    }

    /// True when no directive was present.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when `name` (lower-case) is present, with or without argument.
    /// The qualified forms `private="Set-Cookie"` and `no-cache="..."`
    /// count as the unqualified directive: sluice does not store a response
    /// minus some fields, so the restrictive reading is the safe one.
    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|(n, _)| n == name)
    }

    /// The delta-seconds argument of `name` (lower-case).
    pub fn seconds(&self, name: &str) -> Seconds {
        let mut found = Seconds::Absent;
        for (n, arg) in &self.entries {
            if n != name {
                continue;
            }
            let value = match arg.as_deref().map(delta_seconds) {
                Some(Some(v)) => v,
                _ => return Seconds::Invalid,
            };
            found = match found {
                Seconds::Absent => Seconds::Valid(value),
                Seconds::Valid(prev) if prev == value => Seconds::Valid(value),
                _ => return Seconds::Invalid,
            };
        }
        found
    }
}

/// `1*DIGIT`, saturating at [`DELTA_SECONDS_MAX`].
fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        if v >= DELTA_SECONDS_MAX {
            return Some(DELTA_SECONDS_MAX);
        }
    }
    Some(v)
}

/// Splits a list on commas that are not inside a quoted string (a quoted
/// argument or parameter may contain commas).
pub(crate) fn split_list(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Removes the quotes and backslash escapes of a quoted string; a token is
/// returned as it is. An unterminated quote keeps the rest as the value.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"') else {
        return s.to_owned();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_case_insensitive_and_lines_combine() {
        let d = Directives::parse(&["Public, MAX-AGE=60", "s-maxage=\"120\""]);
        assert!(d.has("public"));
        assert_eq!(d.seconds("max-age"), Seconds::Valid(60));
        assert_eq!(d.seconds("s-maxage"), Seconds::Valid(120));
        assert_eq!(d.seconds("stale-if-error"), Seconds::Absent);
        assert!(!d.has("private"));
    }

    #[test]
    fn quoted_commas_do_not_split() {
        let d = Directives::parse(&[r#"private="set-cookie, x-a", max-age=5"#]);
        assert!(d.has("private"));
        assert_eq!(d.seconds("max-age"), Seconds::Valid(5));
        assert!(!d.has("x-a\""));
    }

    #[test]
    fn invalid_and_conflicting_arguments_are_invalid() {
        for v in [
            "max-age",
            "max-age=",
            "max-age=-1",
            "max-age=1.5",
            "max-age=abc",
            "max-age=60, max-age=61",
            "max-age = 6 0",
        ] {
            assert_eq!(
                Directives::parse(&[v]).seconds("max-age"),
                Seconds::Invalid,
                "{v}"
            );
        }
        assert_eq!(
            Directives::parse(&["max-age=60", "max-age=60"]).seconds("max-age"),
            Seconds::Valid(60)
        );
        assert_eq!(
            Directives::parse(&["max-age = 60"]).seconds("max-age"),
            Seconds::Valid(60),
            "whitespace around = is tolerated"
        );
    }

    #[test]
    fn huge_values_saturate() {
        let d = Directives::parse(&["max-age=99999999999999999999999999"]);
        assert_eq!(d.seconds("max-age"), Seconds::Valid(DELTA_SECONDS_MAX));
    }

    #[test]
    fn empty_items_are_skipped() {
        let d = Directives::parse(&[" , ,, no-store ,"]);
        assert!(d.has("no-store"));
        assert_eq!(d.entries.len(), 1);
        assert!(Directives::parse(&[""]).is_empty());
    }

    proptest! {
        #[test]
        fn never_panics_and_digits_round_trip(s in ".{0,64}", n in 0u64..DELTA_SECONDS_MAX) {
            let _ = Directives::parse(&[s.as_str()]).seconds("max-age");
            let line = format!("{s}, max-age={n}");
            let d = Directives::parse(&[line.as_str()]);
            // Either the noise hid the directive in a quote, or it carries n
            // (or conflicts with a max-age inside the noise).
            match d.seconds("max-age") {
                Seconds::Valid(v) => prop_assert_eq!(v, n),
                Seconds::Invalid | Seconds::Absent => {}
            }
        }
    }
}
