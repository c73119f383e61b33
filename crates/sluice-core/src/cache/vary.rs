//! `Vary`: which request headers select among stored variants.
//!
//! The core cache keeps variants apart itself (`vary_by` on insert, request
//! headers on lookup; it compares the header values byte for byte). Its one
//! catch is timing: the headers must be attached to the *lookup*, before
//! the origin's `Vary` is known. So every lookup carries the normalised
//! values of a fixed allow-list (`cache.vary_headers`), and a response that
//! varies on anything outside that list is not stored, since its variants
//! could not be told apart.
//!
//! `Accept-Encoding` is the exception: the output coding is already part of
//! the primary key (`key::CodingClass`), normalised to the few codings the
//! edge can produce, so it is dropped from the rule rather than fragmenting
//! the cache by every browser's raw header.

use super::directives::split_list;
use super::policy::NotStored;

/// The normalised request headers a stored response varies on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaryRule {
    names: Vec<String>,
}

impl VaryRule {
    /// The rule for a response's `Vary` field lines, given the allow-list
    /// (lower-case names).
    ///
    /// `Vary: *` can never match a later request (RFC 9111 §4.1), and a
    /// name outside the allow-list would not be on the lookup, so both
    /// refuse storage.
    pub fn from_response(vary: &[&str], allowed: &[String]) -> Result<Self, NotStored> {
        let mut names: Vec<String> = Vec::new();
        for value in vary {
            for name in value.split(',') {
                let name = name.trim_matches([' ', '\t']);
                if name.is_empty() {
                    continue;
                }
                if name == "*" {
                    return Err(NotStored::VaryStar);
                }
                let name = name.to_ascii_lowercase();
                if name == "accept-encoding" {
                    continue;
                }
                if !allowed.contains(&name) {
                    return Err(NotStored::VaryUnsupported);
                }
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(Self { names })
    }

    /// The names to pass to `vary_by`, sorted. **Empty means: do not call
    /// `vary_by` at all** (Viceroy 0.22 rejects the empty rule the SDK
    /// sends for an empty list, failing the whole insert).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// True when the response does not vary (beyond the coding).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The `(name, value)` pairs to attach to every lookup: for each
/// allow-listed header the request carries, its normalised value. A header
/// the request lacks is left out (the core cache tells "absent" from
/// "empty").
pub fn lookup_headers<'a>(
    allowed: &[String],
    mut values_of: impl FnMut(&str) -> Vec<&'a str>,
) -> Vec<(String, String)> {
    allowed
        .iter()
        .filter_map(|name| {
            let values = values_of(name);
            normalise(name, &values).map(|v| (name.clone(), v))
        })
        .collect()
}

/// One header's value as the cache compares it. Field lines are combined,
/// list elements trimmed and empty ones dropped (RFC 9111 §4.1 allows
/// normalisation that keeps the semantics); `Accept-Language` is
/// lower-cased because language tags are case-insensitive. `None` when the
/// request has no such header.
pub fn normalise(name: &str, values: &[&str]) -> Option<String> {
    if values.is_empty() {
        return None;
    }
    let lower = name.eq_ignore_ascii_case("accept-language");
    let mut out = String::new();
    for value in values {
        for element in split_list(value) {
            let element = element.trim_matches([' ', '\t']);
            if element.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(',');
            }
            if lower {
                out.push_str(&element.to_ascii_lowercase());
            } else {
                out.push_str(element);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn allowed() -> Vec<String> {
        ["accept", "accept-language", "origin"]
            .map(str::to_owned)
            .to_vec()
    }

    #[test]
    fn rule_is_lower_case_sorted_and_deduplicated() {
        let rule =
            VaryRule::from_response(&["Origin, Accept-Language", "accept-language"], &allowed())
                .unwrap();
        assert_eq!(rule.names(), ["accept-language", "origin"]);
    }

    #[test]
    fn accept_encoding_is_covered_by_the_key() {
        let rule = VaryRule::from_response(&["Accept-Encoding"], &allowed()).unwrap();
        assert!(rule.is_empty());
        assert!(VaryRule::from_response(&[], &allowed()).unwrap().is_empty());
        assert!(VaryRule::from_response(&[" , "], &allowed())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn star_and_unknown_names_refuse_storage() {
        assert_eq!(
            VaryRule::from_response(&["Accept-Encoding, *"], &allowed()),
            Err(NotStored::VaryStar)
        );
        assert_eq!(
            VaryRule::from_response(&["Cookie"], &allowed()),
            Err(NotStored::VaryUnsupported)
        );
        assert_eq!(
            VaryRule::from_response(&["User-Agent", "Accept"], &allowed()),
            Err(NotStored::VaryUnsupported)
        );
        assert_eq!(
            VaryRule::from_response(&["accept-language"], &[]),
            Err(NotStored::VaryUnsupported)
        );
    }

    #[test]
    fn values_are_normalised() {
        assert_eq!(
            normalise("accept-language", &["fr-CH, fr;q=0.9", " EN;q=0.8 ,"]).as_deref(),
            Some("fr-ch,fr;q=0.9,en;q=0.8")
        );
        assert_eq!(
            normalise("accept", &[r#"text/html;x="a,b" , */*"#]).as_deref(),
            Some(r#"text/html;x="a,b",*/*"#),
            "a quoted comma is not a separator; case is kept outside Accept-Language"
        );
        assert_eq!(normalise("origin", &[]), None);
        assert_eq!(normalise("origin", &[" "]).as_deref(), Some(""));
    }

    #[test]
    fn lookup_headers_cover_only_present_allowed_headers() {
        let got = lookup_headers(&allowed(), |name| match name {
            "accept-language" => vec!["de-DE"],
            "origin" => vec![],
            "accept" => vec!["text/html", "*/*"],
            _ => unreachable!("only allowed names are asked"),
        });
        assert_eq!(
            got,
            [
                ("accept".to_owned(), "text/html,*/*".to_owned()),
                ("accept-language".to_owned(), "de-de".to_owned()),
            ]
        );
    }

    proptest! {
        /// Whitespace and line splitting never change the normalised value,
        /// so equivalent requests share a variant.
        #[test]
        fn whitespace_and_line_splits_are_invisible(
            elements in proptest::collection::vec("[a-zA-Z0-9;=.*/-]{1,12}", 1..6),
            pad in proptest::collection::vec(0usize..3, 12),
            split in 0usize..6,
        ) {
            let tight = normalise("accept", &[elements.join(",").as_str()]);
            let spaced: Vec<String> = elements
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{}{e}{}", " ".repeat(pad[i]), "\t".repeat(pad[i + 6])))
                .collect();
            let split = split.min(spaced.len());
            let (a, b) = spaced.split_at(split);
            let lines = [a.join(","), b.join(",")];
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            prop_assert_eq!(normalise("accept", &lines), tight);
        }
    }
}
