//! A span-keeping reader of serialized policies (CSP Level 3, "parse a
//! serialized CSP").
//!
//! It never builds a new policy text: it reports where each directive's
//! source list ends, so callers *insert* sources there and every other
//! byte stays as the origin sent it. Junk is tolerated the way browsers
//! tolerate it: empty directives are skipped, a repeated directive is
//! ignored after its first occurrence (only the first one is enforced),
//! and a directive whose value breaks the grammar (non-ASCII bytes) is
//! left alone.

/// ASCII whitespace as the CSP grammar uses it (TAB, LF, FF, CR, SPACE).
pub(crate) fn is_ascii_ws(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// One directive of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive<'a> {
    /// The name as written (compare ASCII case-insensitively).
    pub(crate) name: &'a str,
    /// The source expressions (or other tokens), in order.
    pub(crate) tokens: Vec<&'a str>,
    /// Offset in the parsed text just past the last token (or the name):
    /// where appended sources go.
    pub(crate) end: usize,
    /// False for a repeated directive, which browsers ignore.
    pub(crate) effective: bool,
}

impl Directive<'_> {
    /// Is this directive named `name` (lower-case)?
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// One policy: its directives in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Policy<'a> {
    pub(crate) directives: Vec<Directive<'a>>,
}

impl<'a> Policy<'a> {
    /// The enforced directive called `name` (lower-case), if any.
    pub(crate) fn get(&self, name: &str) -> Option<&Directive<'a>> {
        self.directives.iter().find(|d| d.effective && d.is(name))
    }

    /// The first of `names` the policy has: the directive that governs
    /// something, by CSP's fallback order.
    pub(crate) fn governing(&self, names: &[&str]) -> Option<&Directive<'a>> {
        names.iter().find_map(|n| self.get(n))
    }
}

/// Parses one serialized policy (a `<meta>` value: commas are not
/// separators there). Offsets are relative to `text`.
pub(crate) fn parse_policy(text: &str) -> Policy<'_> {
    parse_at(text, 0, text.len())
}

/// Parses a header value: a comma-separated list of policies.
pub(crate) fn parse_list(text: &str) -> Vec<Policy<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for part in text.split(',') {
        out.push(parse_at(text, start, start + part.len()));
        start += part.len() + 1;
    }
    out
}

/// Parses `text[from..to]` as one policy.
fn parse_at(text: &str, from: usize, to: usize) -> Policy<'_> {
    let mut policy = Policy::default();
    let bytes = text.as_bytes();
    let mut start = from;
    while start <= to {
        let end = bytes[start..to]
            .iter()
            .position(|&b| b == b';')
            .map_or(to, |k| start + k);
        if let Some(d) = parse_directive(text, start, end) {
            let effective = !policy
                .directives
                .iter()
                .any(|e| e.name.eq_ignore_ascii_case(d.name));
            policy.directives.push(Directive { effective, ..d });
        }
        start = end + 1;
    }
    policy
}

/// One `;`-separated piece, or `None` when it is empty or not a valid
/// directive.
fn parse_directive(text: &str, from: usize, to: usize) -> Option<Directive<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = from;
    let mut last_end = from;
    while i < to {
        while i < to && is_ascii_ws(bytes[i]) {
            i += 1;
        }
        let start = i;
        while i < to && !is_ascii_ws(bytes[i]) {
            i += 1;
        }
        if start < i {
            tokens.push(text.get(start..i)?);
            last_end = i;
        }
    }
    let (&name, values) = tokens.split_first()?;
    let name_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let values_ok = values
        .iter()
        .all(|t| t.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if !name_ok || !values_ok {
        return None;
    }
    Some(Directive {
        name,
        tokens: values.to_vec(),
        end: last_end,
        effective: true,
    })
}

/// Inserts each `(offset, text)` into `base` (offsets ascending, several
/// at one offset kept in order).
pub(crate) fn insert_all(base: &str, inserts: &[(usize, String)]) -> String {
    let mut out =
        String::with_capacity(base.len() + inserts.iter().map(|i| i.1.len()).sum::<usize>());
    let mut at = 0;
    for (offset, text) in inserts {
        out.push_str(base.get(at..*offset).unwrap_or_default());
        out.push_str(text);
        at = *offset;
    }
    out.push_str(base.get(at..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(p: &Policy<'a>) -> Vec<(&'a str, bool)> {
        p.directives.iter().map(|d| (d.name, d.effective)).collect()
    }

    #[test]
    fn reads_directives_tokens_and_ends() {
        let text = "  Script-Src 'self'\thttps://a.example ;;img-src *; default-src";
        let p = parse_policy(text);
        assert_eq!(
            names(&p),
            [
                ("Script-Src", true),
                ("img-src", true),
                ("default-src", true)
            ]
        );
        let s = p.get("script-src").unwrap();
        assert_eq!(s.tokens, ["'self'", "https://a.example"]);
        assert_eq!(&text[..s.end], "  Script-Src 'self'\thttps://a.example");
        let d = p.get("default-src").unwrap();
        assert!(d.tokens.is_empty());
        assert_eq!(d.end, text.len());
    }

    #[test]
    fn only_the_first_of_a_repeated_directive_counts() {
        let p = parse_policy("script-src a; SCRIPT-SRC b");
        assert_eq!(names(&p), [("script-src", true), ("SCRIPT-SRC", false)]);
        assert_eq!(p.get("script-src").unwrap().tokens, ["a"]);
    }

    #[test]
    fn tolerates_junk() {
        for junk in [
            "",
            ";",
            " ; ; ",
            ",",
            "\u{e9}t\u{e9}",
            "script-src \u{e9}",
            "a=b c",
            "x",
        ] {
            let p = parse_policy(junk);
            assert!(p.get("script-src").is_none(), "{junk:?}");
        }
        let p = parse_policy("bad_name x; script-src y");
        assert_eq!(names(&p), [("script-src", true)]);
    }

    #[test]
    fn a_header_is_a_list_of_policies() {
        let text = "script-src a, img-src b;script-src c";
        let list = parse_list(text);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].get("script-src").unwrap().tokens, ["a"]);
        let second = list[1].get("script-src").unwrap();
        assert_eq!(second.tokens, ["c"]);
        assert_eq!(second.end, text.len());
        assert_eq!(
            list[1].get("img-src").unwrap().end,
            "script-src a, img-src b".len()
        );
        // In a <meta>, a comma is part of a token.
        assert_eq!(
            parse_policy(text).get("script-src").unwrap().tokens,
            ["a,", "img-src", "b"]
        );
    }

    #[test]
    fn inserts_in_order() {
        let out = insert_all(
            "ab;cd",
            &[(2, " x".into()), (2, " y".into()), (5, " z".into())],
        );
        assert_eq!(out, "ab x y;cd z");
    }
}
