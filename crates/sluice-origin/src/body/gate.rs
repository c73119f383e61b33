//! `once=TOKEN` / `later=TOKEN`: fault options that fire on some requests
//! of a URL and not on others.
//!
//! A cache in front of the origin asks for the same URL again and again,
//! and a test often needs those requests to be answered differently: a
//! fill that breaks mid-body and then a refetch that succeeds
//! (`once`), or a page that is stored and then fails when it is refreshed
//! (`later`, for stale-if-error). The URL must stay the same (it is the
//! cache key), so the origin remembers how many requests carried each
//! token and decides per request whether the fault options apply.
//!
//! Only the faults are gated: `reset_after`, `lie` and `fail_status`.
//! Pacing (`chunk`, `interval_ms`, `pause_after`) always applies.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::error::RouteError;
use crate::query::Query;

/// Most tokens remembered; past it the oldest is forgotten (and would fire
/// as new again), so a long benchmark cannot grow the map without bound.
pub const MAX_TOKENS: usize = 65_536;

/// Longest token accepted.
const MAX_TOKEN_BYTES: usize = 128;

/// Which requests carrying a token get the fault options.
#[derive(Debug, Clone, PartialEq, Eq)]
enum When {
    /// No token: every request.
    Always,
    /// Only the first request carrying the token.
    Once(String),
    /// Every request carrying the token but the first.
    Later(String),
}

impl When {
    fn from_query(q: &Query) -> Result<Self, RouteError> {
        let token = |key: &str| -> Result<Option<String>, RouteError> {
            match q.get(key) {
                None => Ok(None),
                Some(t) if !t.is_empty() && t.len() <= MAX_TOKEN_BYTES => Ok(Some(t.to_owned())),
                Some(_) => Err(RouteError::bad(format!(
                    "{key} must be a token of 1..={MAX_TOKEN_BYTES} bytes"
                ))),
            }
        };
        match (token("once")?, token("later")?) {
            (None, None) => Ok(Self::Always),
            (Some(t), None) => Ok(Self::Once(t)),
            (None, Some(t)) => Ok(Self::Later(t)),
            (Some(_), Some(_)) => Err(RouteError::bad("use once or later, not both")),
        }
    }
}

/// How many requests carried each token, oldest token first.
#[derive(Debug, Default)]
struct Seen {
    counts: HashMap<String, u64>,
    order: VecDeque<String>,
}

/// The origin-wide memory of tokens.
#[derive(Debug, Default)]
pub struct FaultGate {
    seen: Mutex<Seen>,
}

impl FaultGate {
    /// Records this request's token (if any) and says whether its fault
    /// options apply. Every request carrying a token counts, whatever its
    /// method.
    pub fn fires(&self, q: &Query) -> Result<bool, RouteError> {
        let (token, first_fires) = match When::from_query(q)? {
            When::Always => return Ok(true),
            When::Once(t) => (t, true),
            When::Later(t) => (t, false),
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let before = match seen.counts.get_mut(&token) {
            Some(n) => {
                *n += 1;
                *n - 1
            }
            None => {
                if seen.order.len() >= MAX_TOKENS {
                    if let Some(old) = seen.order.pop_front() {
                        seen.counts.remove(&old);
                    }
                }
                seen.counts.insert(token.clone(), 1);
                seen.order.push_back(token);
                0
            }
        };
        Ok((before == 0) == first_fires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_fires_first_later_fires_after() {
        let gate = FaultGate::default();
        let q = |s: &str| Query::parse(Some(s));
        assert!(gate.fires(&q("reset_after=1")).unwrap());
        assert!(gate.fires(&q("reset_after=1")).unwrap(), "no token: always");
        assert!(gate.fires(&q("once=a")).unwrap());
        assert!(!gate.fires(&q("once=a")).unwrap());
        assert!(!gate.fires(&q("once=a")).unwrap());
        assert!(gate.fires(&q("once=b")).unwrap(), "tokens are independent");
        assert!(!gate.fires(&q("later=c")).unwrap());
        assert!(gate.fires(&q("later=c")).unwrap());
        assert!(gate.fires(&q("later=c")).unwrap());
        // once and later share the count of a token.
        assert!(gate.fires(&q("later=a")).unwrap());
        assert!(gate.fires(&q("once=a&later=a")).is_err());
        assert!(gate.fires(&q("once=")).is_err());
        assert!(gate
            .fires(&q(&format!("once={}", "x".repeat(129))))
            .is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let gate = FaultGate::default();
        let q = |i: usize| Query::parse(Some(&format!("once=t{i}")));
        for i in 0..MAX_TOKENS + 1 {
            assert!(gate.fires(&q(i)).unwrap());
        }
        let seen = gate.seen.lock().unwrap();
        assert_eq!(seen.counts.len(), MAX_TOKENS);
        assert_eq!(seen.order.len(), MAX_TOKENS);
        drop(seen);
        assert!(gate.fires(&q(0)).unwrap(), "the oldest was forgotten");
        assert!(!gate.fires(&q(MAX_TOKENS)).unwrap(), "the newest is kept");
    }
}
