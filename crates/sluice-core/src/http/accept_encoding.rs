//! `Accept-Encoding` negotiation between the client, the edge and the
//! origin.
//!
//! The edge asks the origin only for codings that the pipeline can decode
//! *and* the client accepts. Then a passed-through body is always readable
//! by the client, and a rewritten body can go back in the origin's coding.

/// Codings the pipeline decodes, in the edge's order of preference.
pub const SUPPORTED: &[&str] = &["br", "gzip", "deflate"];

/// One parsed `coding;q=..` element.
fn elements(header: &str) -> impl Iterator<Item = (String, f32)> + '_ {
    header.split(',').filter_map(|part| {
        let mut pieces = part.split(';');
        let coding = pieces.next()?.trim().to_ascii_lowercase();
        if coding.is_empty() {
            return None;
        }
        let mut q = 1.0_f32;
        for p in pieces {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
        }
        Some((coding, q))
    })
}

/// True when the client's `Accept-Encoding` allows `coding` (RFC 9110
/// §12.5.3: an explicit `q=0` refuses it, `*` covers unlisted codings,
/// `x-gzip` is `gzip`). `identity` is acceptable unless refused.
pub fn accepts(client_header: Option<&str>, coding: &str) -> bool {
    let Some(header) = client_header else {
        return coding == "identity";
    };
    let mut star = None;
    for (c, q) in elements(header) {
        let c = if c == "x-gzip" { "gzip".to_owned() } else { c };
        if c == coding {
            return q > 0.0;
        }
        if c == "*" {
            star = Some(q > 0.0);
        }
    }
    star.unwrap_or(coding == "identity")
}

/// The `Accept-Encoding` value to send to the origin: the supported codings
/// the client accepts, or `identity` when there are none.
pub fn for_origin(client_header: Option<&str>) -> String {
    let chosen: Vec<&str> = SUPPORTED
        .iter()
        .copied()
        .filter(|c| accepts(client_header, c))
        .collect();
    if chosen.is_empty() {
        "identity".to_owned()
    } else {
        chosen.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_gets_the_intersection() {
        assert_eq!(
            for_origin(Some("gzip, deflate, br, zstd")),
            "br, gzip, deflate"
        );
        assert_eq!(for_origin(Some("gzip;q=0.5, br;q=0")), "gzip");
        assert_eq!(for_origin(Some("zstd")), "identity");
        assert_eq!(for_origin(None), "identity");
        assert_eq!(for_origin(Some("*")), "br, gzip, deflate");
        assert_eq!(for_origin(Some("*;q=0, x-gzip")), "gzip");
    }

    #[test]
    fn identity_is_acceptable_unless_refused() {
        assert!(accepts(Some("gzip"), "identity"));
        assert!(!accepts(Some("identity;q=0"), "identity"));
        assert!(!accepts(Some("*;q=0"), "identity"));
        assert!(accepts(None, "identity"));
        assert!(!accepts(None, "gzip"));
    }
}
