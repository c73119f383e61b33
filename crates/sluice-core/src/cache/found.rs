//! What a lookup's answer becomes (serve the entry, fill it, go to the
//! origin, or first purge a fill whose guest died) and, for a served
//! entry, the head the client gets: the stored one, or a `304`.

use super::conditional;
use super::delivery::{Outcome as Delivered, PassReason};
use super::freshness::{on_found, FoundAction, FoundFacts};
use super::stored_head::{self, Entry, StoredHead};

/// What to do after a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterLookup {
    /// Answer from the entry.
    Serve(Delivered, StoredHead),
    /// This request owes the cache a fill; with the stale entry's head when
    /// an origin failure may be answered with it (stale-if-error).
    Fill {
        /// The stale entry's head.
        stale: Option<StoredHead>,
    },
    /// Go to the origin without filling.
    Pass(PassReason),
    /// Purge this fill key (a fill whose guest died before it could end
    /// or purge it), then go to the origin.
    DeadFill(String),
}

/// Decides from the found entry's metadata and facts, if one was found,
/// and whether the lookup obliged this request to fill (a transaction's
/// `must_insert_or_update`).
pub fn after_lookup(found: Option<(&[u8], FoundFacts)>, obligated: bool) -> AfterLookup {
    let fill = |stale| match obligated {
        true => AfterLookup::Fill { stale },
        false => AfterLookup::Pass(PassReason::ReadOnlyMiss),
    };
    let Some((meta, facts)) = found else {
        return fill(None);
    };
    let head = match stored_head::decode(meta) {
        Ok(Entry::Response(head)) => head,
        Ok(Entry::Pass(reason)) => return AfterLookup::Pass(PassReason::NotStored(reason)),
        Err(e) => {
            log::warn!("unreadable cache entry, going to the origin: {e}");
            return AfterLookup::Pass(PassReason::Bypass("bad_entry"));
        }
    };
    let facts = FoundFacts {
        must_refresh: obligated,
        ..facts
    };
    match on_found(&facts, &head) {
        FoundAction::Hit => AfterLookup::Serve(Delivered::Hit { age: facts.age }, head),
        FoundAction::ServeStale => AfterLookup::Serve(Delivered::Stale { age: facts.age }, head),
        FoundAction::Refresh { stale_on_error } => fill(stale_on_error.then_some(head)),
        FoundAction::Pass => AfterLookup::Pass(PassReason::Bypass("stale")),
        FoundAction::DeadFill => AfterLookup::DeadFill(head.fill_key),
    }
}

/// The head a found entry is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<'a> {
    /// The stored status, or `304`.
    pub status: u16,
    /// The stored headers (a `304`'s subset), then what the cache did.
    pub headers: Vec<(&'a str, Vec<u8>)>,
}

impl Answer<'_> {
    /// True for a `304` (no body).
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// The answer for `head`: `304` when the client's copy is current
/// (`not_modified`, from `conditional::evaluate`), else the stored head;
/// `X-Cache` and `Server-Timing` say what the cache did.
pub fn answer(head: &StoredHead, delivered: Delivered, not_modified: bool) -> Answer<'_> {
    let (status, stored) = match not_modified {
        true => (304, conditional::not_modified_headers(head)),
        false => (
            head.status,
            (head.headers.iter())
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect(),
        ),
    };
    let mut headers: Vec<(&str, Vec<u8>)> =
        stored.into_iter().map(|(n, v)| (n, v.to_vec())).collect();
    headers.extend(
        delivered
            .headers()
            .into_iter()
            .map(|(n, v)| (n, v.into_bytes())),
    );
    Answer { status, headers }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cache::NotStored;

    fn head(swr: u64, sie: u64) -> StoredHead {
        StoredHead {
            status: 200,
            headers: vec![
                ("etag".into(), b"\"v1\"".to_vec()),
                ("content-type".into(), b"text/html".to_vec()),
            ],
            initial_age: Duration::ZERO,
            stale_while_revalidate: Duration::from_secs(swr),
            stale_if_error: Duration::from_secs(sie),
            fill_key: "sluice-fill-1".into(),
        }
    }

    fn facts(stale: bool, age: u64) -> FoundFacts {
        FoundFacts {
            stale,
            must_refresh: false,
            age: Duration::from_secs(age),
            ttl: Duration::from_secs(60),
            known_length: Some(10),
        }
    }

    #[test]
    fn a_miss_fills_when_obliged_and_passes_when_only_read() {
        assert_eq!(after_lookup(None, true), AfterLookup::Fill { stale: None });
        assert_eq!(
            after_lookup(None, false),
            AfterLookup::Pass(PassReason::ReadOnlyMiss)
        );
    }

    #[test]
    fn fresh_serves_stale_in_its_window_serves_stale_and_past_it_passes() {
        let meta = head(30, 0).encode().unwrap();
        let hit = after_lookup(Some((&meta, facts(false, 5))), false);
        assert_eq!(
            hit,
            AfterLookup::Serve(
                Delivered::Hit {
                    age: Duration::from_secs(5)
                },
                head(30, 0)
            )
        );
        let stale = after_lookup(Some((&meta, facts(true, 70))), false);
        assert!(matches!(
            stale,
            AfterLookup::Serve(Delivered::Stale { .. }, _)
        ));
        let gone = after_lookup(Some((&meta, facts(true, 95))), false);
        assert_eq!(gone, AfterLookup::Pass(PassReason::Bypass("stale")));
    }

    #[test]
    fn an_obliged_refresh_keeps_the_stale_head_only_inside_stale_if_error() {
        let meta = head(0, 30).encode().unwrap();
        let within = after_lookup(Some((&meta, facts(true, 70))), true);
        assert_eq!(
            within,
            AfterLookup::Fill {
                stale: Some(head(0, 30))
            }
        );
        let past = after_lookup(Some((&meta, facts(true, 95))), true);
        assert_eq!(past, AfterLookup::Fill { stale: None });
    }

    #[test]
    fn markers_and_unreadable_entries_pass() {
        let marker = stored_head::encode_pass(NotStored::Private);
        let passed = after_lookup(Some((&marker, facts(false, 1))), true);
        assert_eq!(
            passed,
            AfterLookup::Pass(PassReason::NotStored(NotStored::Private))
        );
        let junk = after_lookup(Some((b"junk", facts(false, 1))), true);
        assert_eq!(junk, AfterLookup::Pass(PassReason::Bypass("bad_entry")));
    }

    #[test]
    fn a_current_copy_gets_304_and_every_answer_says_what_the_cache_did() {
        let stored = head(0, 0);
        let hit = Delivered::Hit {
            age: Duration::from_secs(3),
        };
        let full = answer(&stored, hit, false);
        assert_eq!(full.status, 200);
        assert_eq!(full.headers[1], ("content-type", b"text/html".to_vec()));
        assert!(full.headers.contains(&("x-cache", b"HIT".to_vec())));
        let revalidated = answer(&stored, hit, true);
        assert!(revalidated.not_modified());
        assert!(!revalidated
            .headers
            .iter()
            .any(|(n, _)| *n == "content-type"));
        assert!(revalidated.headers.contains(&("etag", b"\"v1\"".to_vec())));
    }
}
