//! Which origin-planned strategy an origin response asks for, if any.
//!
//! Only the `origin` backend's response is ever asked (the adapter calls
//! this after its publisher fetch), never a client request, so a client
//! cannot make the edge run a plan; and a plan body is consumed by the
//! edge, never forwarded.

use super::dispatch::DISPATCH_CONTENT_TYPE;
use super::plan::UPSTREAM_PLAN_CONTENT_TYPE;

/// A planned stream the edge drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The origin streams SSE or NDJSON itself: relay it chunk by chunk.
    Hosted,
    /// A dispatch open message: the edge calls the origin's step endpoint.
    Dispatch,
    /// An upstream plan: the edge calls an allow-listed backend.
    UpstreamPlan,
}

impl Strategy {
    /// The access-log `mode`.
    pub fn mode(self) -> &'static str {
        match self {
            Strategy::Hosted => "hosted",
            Strategy::Dispatch => "dispatch",
            Strategy::UpstreamPlan => "upstream_plan",
        }
    }
}

/// The strategy for a response from the `origin` backend.
///
/// Plans are recognised whatever the status (a plan is never forwarded,
/// even by mistake); hosted streams only for a 2xx with a body (not 204 or
/// 205) to a non-`HEAD` request: anything else has no stream to relay and
/// the publisher's normal path handles it.
pub fn detect(content_type: Option<&str>, status: u16, is_head: bool) -> Option<Strategy> {
    let media = content_type?.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case(DISPATCH_CONTENT_TYPE) {
        return Some(Strategy::Dispatch);
    }
    if media.eq_ignore_ascii_case(UPSTREAM_PLAN_CONTENT_TYPE) {
        return Some(Strategy::UpstreamPlan);
    }
    let hosted = media.eq_ignore_ascii_case("text/event-stream")
        || media.eq_ignore_ascii_case("application/x-ndjson");
    (hosted && !is_head && (200..300).contains(&status) && status != 204 && status != 205)
        .then_some(Strategy::Hosted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_recognised_at_any_status_and_for_head() {
        for status in [200, 404, 500] {
            for head in [false, true] {
                assert_eq!(
                    detect(
                        Some("Application/Vnd.Sluice.Dispatch+JSON; charset=utf-8"),
                        status,
                        head
                    ),
                    Some(Strategy::Dispatch)
                );
                assert_eq!(
                    detect(Some(UPSTREAM_PLAN_CONTENT_TYPE), status, head),
                    Some(Strategy::UpstreamPlan)
                );
            }
        }
    }

    #[test]
    fn hosted_streams_only_for_2xx_with_a_body_and_not_head() {
        assert_eq!(
            detect(Some("text/event-stream"), 200, false),
            Some(Strategy::Hosted)
        );
        assert_eq!(
            detect(Some(" application/x-ndjson ;q=1"), 206, false),
            Some(Strategy::Hosted)
        );
        for (status, head) in [
            (200, true),
            (204, false),
            (205, false),
            (404, false),
            (301, false),
        ] {
            assert_eq!(detect(Some("text/event-stream"), status, head), None);
        }
    }

    #[test]
    fn everything_else_is_not_a_plan() {
        for ct in [None, Some(""), Some("text/html"), Some("application/json")] {
            assert_eq!(detect(ct, 200, false), None);
        }
        assert_eq!(
            detect(Some("text/event-streamx"), 200, false),
            None,
            "media types match exactly"
        );
    }
}
