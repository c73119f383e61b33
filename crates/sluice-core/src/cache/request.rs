//! Which requests use the cache, and how.
//!
//! Decided from the request alone, before any lookup:
//! - `GET` looks up **transactionally**: on a miss it may become the one
//!   request that fetches and fills, and concurrent requests for the same
//!   key wait for it (request collapsing);
//! - `HEAD` shares `GET`'s entry but only **reads** (non-transactional
//!   lookup): a hit replays the stored head; a miss goes to the origin as
//!   today and never fills (a `HEAD` response has no body to store);
//! - a `GET` with `Range` or `If-Range` also only reads: a hit serves the
//!   full `200` (allowed by RFC 9110 §14.2, and rewritten responses never
//!   advertise `Accept-Ranges`); a miss is passed to the origin, so a
//!   partial body never fills an entry;
//! - `If-Match` / `If-Unmodified-Since` bypass the cache: those
//!   preconditions guard state changes and belong to the origin;
//! - other methods bypass.
//!
//! The client's `Cache-Control: no-cache` / `Pragma` are deliberately
//! ignored: honouring them would let any client force origin fetches.
//! `Authorization` does not bypass the lookup (RFC 9111 §3.5 restricts
//! storing, not using): `policy::decide` applies it to the fill.

/// The request facts that decide the plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct LookupRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// `Range` or `If-Range` present.
    pub has_range: bool,
    /// `If-Match` or `If-Unmodified-Since` present.
    pub has_precondition: bool,
}

/// How to use the cache for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupPlan {
    /// `Transaction::lookup`: hit, wait for a concurrent fill, or fill.
    Transaction,
    /// `core::lookup`: hit or pass, never wait, never fill.
    ReadOnly,
    /// No lookup at all (the token is for logs).
    Bypass(&'static str),
}

/// The plan for a request.
pub fn plan(enabled: bool, request: &LookupRequest<'_>) -> LookupPlan {
    if !enabled {
        return LookupPlan::Bypass("disabled");
    }
    match request.method {
        "GET" | "HEAD" if request.has_precondition => LookupPlan::Bypass("precondition"),
        "GET" if request.has_range => LookupPlan::ReadOnly,
        "GET" => LookupPlan::Transaction,
        "HEAD" => LookupPlan::ReadOnly,
        _ => LookupPlan::Bypass("method"),
    }
}

/// Request headers removed from the origin request of a fill, so the
/// origin answers with the full `200` the cache stores (the client's own
/// conditional is then answered by the edge with `conditional::evaluate`).
pub const STRIP_ON_FILL: &[&str] = &["if-none-match", "if-modified-since"];

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str) -> LookupRequest<'_> {
        LookupRequest {
            method,
            ..LookupRequest::default()
        }
    }

    #[test]
    fn plans() {
        assert_eq!(plan(true, &req("GET")), LookupPlan::Transaction);
        assert_eq!(plan(true, &req("HEAD")), LookupPlan::ReadOnly);
        assert_eq!(
            plan(
                true,
                &LookupRequest {
                    has_range: true,
                    ..req("GET")
                }
            ),
            LookupPlan::ReadOnly
        );
        assert_eq!(
            plan(
                true,
                &LookupRequest {
                    has_range: true,
                    ..req("HEAD")
                }
            ),
            LookupPlan::ReadOnly
        );
        assert_eq!(
            plan(
                true,
                &LookupRequest {
                    has_precondition: true,
                    ..req("GET")
                }
            ),
            LookupPlan::Bypass("precondition")
        );
        for m in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
            assert_eq!(plan(true, &req(m)), LookupPlan::Bypass("method"), "{m}");
        }
        assert_eq!(plan(false, &req("GET")), LookupPlan::Bypass("disabled"));
    }
}
