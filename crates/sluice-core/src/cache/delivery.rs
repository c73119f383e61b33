//! What a response says about the cache: `X-Cache`, `Age` and a
//! `Server-Timing` entry, as plain `(name, value)` pairs the adapter
//! appends.
//!
//! `X-Cache` is the de-facto header operators and tests read;
//! `Server-Timing: cache;desc=...` shows the same in a browser's devtools
//! next to the existing `edge` and `mode` entries. `Age` (RFC 9111 §5.1)
//! goes on every response served from the cache, so downstream caches and
//! clients count the time the object already spent here.

use std::time::Duration;

use super::policy::NotStored;

/// Header names the edge never lets reach a client: instructions for the
/// edge's own cache (strip them from every response, cached or not).
pub const STRIP_FROM_CLIENT: &[&str] = &["surrogate-key", "surrogate-control"];

/// What happened to this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served from a fresh entry.
    Hit {
        /// `Found::age()`.
        age: Duration,
    },
    /// Served from a stale entry (stale-while-revalidate or
    /// stale-if-error).
    Stale {
        /// `Found::age()`.
        age: Duration,
    },
    /// Fetched from the origin and stored while streaming.
    Miss,
    /// Fetched from the origin, not stored.
    Pass(PassReason),
}

/// Why a request went to the origin uncached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassReason {
    /// The response was not storable (also when a hit-for-pass marker
    /// said so).
    NotStored(NotStored),
    /// The request was never looked up (`request::LookupPlan::Bypass`).
    Bypass(&'static str),
    /// A read-only lookup (`HEAD`, `Range`) missed.
    ReadOnlyMiss,
}

impl PassReason {
    /// Stable token for logs and `Server-Timing`.
    pub fn as_str(self) -> &'static str {
        match self {
            PassReason::NotStored(r) => r.as_str(),
            PassReason::Bypass(r) => r,
            PassReason::ReadOnlyMiss => "read-only-miss",
        }
    }
}

impl Outcome {
    /// `HIT`, `STALE`, `MISS` or `PASS`, for the access log.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit { .. } => "HIT",
            Outcome::Stale { .. } => "STALE",
            Outcome::Miss => "MISS",
            Outcome::Pass(_) => "PASS",
        }
    }

    /// The headers to add. A stale hit says `X-Cache: HIT` (it was served
    /// from the cache) and `desc=stale` in `Server-Timing`.
    pub fn headers(self) -> Vec<(&'static str, String)> {
        let (x_cache, desc) = match self {
            Outcome::Hit { .. } => ("HIT", "hit".to_owned()),
            Outcome::Stale { .. } => ("HIT", "stale".to_owned()),
            Outcome::Miss => ("MISS", "miss".to_owned()),
            Outcome::Pass(reason) => ("PASS", format!("pass-{}", reason.as_str())),
        };
        let mut out = vec![
            ("x-cache", x_cache.to_owned()),
            ("server-timing", format!("cache;desc={desc}")),
        ];
        if let Outcome::Hit { age } | Outcome::Stale { age } = self {
            out.push(("age", age.as_secs().to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_miss_pass_headers() {
        assert_eq!(
            Outcome::Hit {
                age: Duration::from_millis(61_900)
            }
            .headers(),
            [
                ("x-cache", "HIT".to_owned()),
                ("server-timing", "cache;desc=hit".to_owned()),
                ("age", "61".to_owned()),
            ]
        );
        assert_eq!(
            Outcome::Stale {
                age: Duration::from_secs(5)
            }
            .headers()[1],
            ("server-timing", "cache;desc=stale".to_owned())
        );
        assert_eq!(
            Outcome::Miss.headers(),
            [
                ("x-cache", "MISS".to_owned()),
                ("server-timing", "cache;desc=miss".to_owned())
            ]
        );
        assert_eq!(
            Outcome::Pass(PassReason::NotStored(NotStored::SetCookie)).headers(),
            [
                ("x-cache", "PASS".to_owned()),
                ("server-timing", "cache;desc=pass-set-cookie".to_owned()),
            ]
        );
        assert_eq!(Outcome::Pass(PassReason::ReadOnlyMiss).as_str(), "PASS");
    }

    #[test]
    fn server_timing_desc_is_a_token() {
        // Every reason must be a valid token so `desc=` needs no quoting.
        let mut reasons: Vec<PassReason> = NotStored::ALL
            .into_iter()
            .map(PassReason::NotStored)
            .collect();
        reasons.push(PassReason::ReadOnlyMiss);
        for r in reasons {
            assert!(
                r.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                r.as_str()
            );
        }
    }
}
