//! What to do with an entry a lookup found.
//!
//! The core cache returns an object while it is *usable*: fresh, or within
//! the stale window given at insert (sluice gives it the longer of
//! stale-while-revalidate and stale-if-error, since the core cache has no
//! stale-if-error). It also marks one request as obligated to refresh a
//! stale object. The guest tells the windows apart here, from the entry's
//! own metadata (`Found::stale_while_revalidate()` cannot be used: it
//! panics under Viceroy).

use std::time::Duration;

use super::fill::is_dead_fill;
use super::stored_head::StoredHead;

/// The lookup's facts about a found entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundFacts {
    /// `Found::is_stale()`.
    pub stale: bool,
    /// `Transaction::must_insert_or_update()`.
    pub must_refresh: bool,
    /// `Found::age()`.
    pub age: Duration,
    /// `Found::max_age()`.
    pub ttl: Duration,
    /// `Found::known_length()`.
    pub known_length: Option<u64>,
}

/// The action for a found entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundAction {
    /// Serve it (fresh).
    Hit,
    /// Serve it stale: another request is refreshing it and this one is
    /// within stale-while-revalidate.
    ServeStale,
    /// This request must refresh it: fetch and fill as on a miss. If the
    /// origin fails (error status or unreachable) and `stale_on_error`,
    /// serve the stale entry instead of an error.
    Refresh {
        /// Within stale-if-error.
        stale_on_error: bool,
    },
    /// Stale beyond what may be served and someone else is refreshing it:
    /// go to the origin without filling.
    Pass,
    /// The entry's fill died: purge its fill key and look up again.
    DeadFill,
}

/// Decides what to do with a found entry.
///
/// Stale serving needs a positive window: an entry made stale by a soft
/// purge while younger than its TTL is served stale only when it has a
/// stale-while-revalidate window (Viceroy would keep serving it until its
/// TTL regardless; Fastly only within the window).
pub fn on_found(found: &FoundFacts, head: &StoredHead) -> FoundAction {
    if is_dead_fill(found.known_length, found.age, head.initial_age) {
        return FoundAction::DeadFill;
    }
    let within = |window: Duration| window > Duration::ZERO && found.age < found.ttl + window;
    if found.must_refresh {
        return FoundAction::Refresh {
            stale_on_error: within(head.stale_if_error),
        };
    }
    if !found.stale {
        return FoundAction::Hit;
    }
    if within(head.stale_while_revalidate) {
        FoundAction::ServeStale
    } else {
        FoundAction::Pass
    }
}

/// Whether the origin failed in the way `stale-if-error` covers (RFC 5861
/// §4): no answer at all (`None`), or 500, 502, 503 or 504.
pub fn origin_failed(status: Option<u16>) -> bool {
    status.is_none_or(|s| matches!(s, 500 | 502..=504))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_if_error_covers_no_answer_and_the_server_errors_it_names() {
        for failed in [None, Some(500), Some(502), Some(503), Some(504)] {
            assert!(origin_failed(failed), "{failed:?}");
        }
        for answered in [Some(200), Some(304), Some(404), Some(501), Some(505)] {
            assert!(!origin_failed(answered), "{answered:?}");
        }
    }

    fn head(swr: u64, sie: u64) -> StoredHead {
        StoredHead {
            status: 200,
            headers: vec![],
            initial_age: Duration::ZERO,
            stale_while_revalidate: Duration::from_secs(swr),
            stale_if_error: Duration::from_secs(sie),
            fill_key: "sluice-fill-00".to_owned(),
        }
    }

    fn facts(stale: bool, must_refresh: bool, age: u64) -> FoundFacts {
        FoundFacts {
            stale,
            must_refresh,
            age: Duration::from_secs(age),
            ttl: Duration::from_secs(60),
            known_length: Some(1),
        }
    }

    #[test]
    fn fresh_is_a_hit() {
        assert_eq!(
            on_found(&facts(false, false, 10), &head(0, 0)),
            FoundAction::Hit
        );
    }

    #[test]
    fn stale_windows_are_told_apart() {
        // swr 30, sie 300: the core cache keeps it usable for 300 s.
        let h = head(30, 300);
        assert_eq!(
            on_found(&facts(true, false, 80), &h),
            FoundAction::ServeStale
        );
        assert_eq!(
            on_found(&facts(true, false, 100), &h),
            FoundAction::Pass,
            "past swr"
        );
        assert_eq!(
            on_found(&facts(true, true, 100), &h),
            FoundAction::Refresh {
                stale_on_error: true
            }
        );
        assert_eq!(
            on_found(&facts(true, true, 400), &h),
            FoundAction::Refresh {
                stale_on_error: false
            }
        );
    }

    #[test]
    fn soft_purged_entries_need_a_window() {
        let young = facts(true, false, 10);
        assert_eq!(on_found(&young, &head(0, 0)), FoundAction::Pass);
        assert_eq!(on_found(&young, &head(5, 0)), FoundAction::ServeStale);
        assert_eq!(
            on_found(&facts(true, true, 10), &head(0, 0)),
            FoundAction::Refresh {
                stale_on_error: false
            }
        );
    }

    #[test]
    fn dead_fills_are_detected_first() {
        let dead = FoundFacts {
            known_length: None,
            age: Duration::from_secs(200),
            ..facts(false, false, 0)
        };
        assert_eq!(on_found(&dead, &head(0, 0)), FoundAction::DeadFill);
        let filling = FoundFacts {
            known_length: None,
            age: Duration::from_secs(2),
            ..facts(false, false, 0)
        };
        assert_eq!(on_found(&filling, &head(0, 0)), FoundAction::Hit);
    }
}
