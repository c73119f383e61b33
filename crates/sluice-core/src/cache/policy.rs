//! May this rewritten response be stored, and for how long?
//!
//! A pure function of the request method, whether the request carried
//! `Authorization`, the origin's response head and the clock. It runs on
//! the origin's head **before** the edge adds anything per visitor (the
//! `sluice_id` cookie and the `Cache-Control: private` that comes with it):
//! the cached object is the shared response.
//!
//! Choices, each following RFC 9111 unless said otherwise:
//! - **Freshness order** (Fastly's): `Surrogate-Control: max-age`, then
//!   `Cache-Control: s-maxage`, then `max-age`, then `Expires` minus
//!   `Date`. When `Surrogate-Control` carries `max-age` it is the edge's
//!   policy and `Cache-Control`'s freshness and revalidation directives
//!   (`max-age`, `no-cache`, `must-revalidate`, ...) are left to browsers:
//!   `Cache-Control: no-cache` + `Surrogate-Control: max-age=N` is the
//!   documented Fastly way to cache at the edge while browsers revalidate.
//!   `private` and `no-store` in either header always refuse storage: they
//!   say the content is per-user or must not be kept, which no edge TTL
//!   changes.
//! - **Never stored**: `private`, `no-store`, `no-cache` (sluice does not
//!   revalidate), `Pragma: no-cache` without `Cache-Control`, any
//!   `Set-Cookie`, `Vary: *` or a `Vary` outside `cache.vary_headers`, a
//!   status outside [`STORABLE_STATUSES`].
//! - **Authorization** (§3.5): a response to a request with
//!   `Authorization` is stored only if its `Cache-Control` has `public`,
//!   `s-maxage` or `must-revalidate`, exactly the RFC's list.
//! - **Invalid freshness** (§4.2.1, §5.3): a duplicated directive with
//!   different values, a non-numeric `max-age`, several different
//!   `Expires` or an unparseable one count as already stale: not stored.
//! - **Age**: the initial age is the origin's `Age` (the largest valid
//!   value), not `now - Date`: a skewed origin clock would otherwise
//!   shorten or cancel every lifetime. An invalid `Age` counts as absent
//!   (§4.2.3 "0, if not available").
//! - **No freshness information**: stored only when `cache.default_ttl_s`
//!   is above zero.
//! - `must-revalidate` / `proxy-revalidate` (of the governing header)
//!   forbid serving stale: both stale windows become zero.
//! - `cache.max_ttl_s` caps how long sluice keeps the object after it
//!   arrives (and both stale windows), not the origin's stated lifetime.

use std::time::{Duration, SystemTime};

use super::directives::{Directives, Seconds};
use super::vary::VaryRule;
use crate::settings::CacheSettings;

/// Statuses whose rewritten responses may be stored.
///
/// From RFC 9110 §15.1's heuristically cacheable list, the ones that reach
/// the rewrite path and whose body or `Location` is the same for every
/// visitor: 200, 203, 300, 301, 308, 404 and 410. Left out: 204 and 206
/// (never rewritten), 405 (its meaning depends on the method, and `HEAD`
/// shares `GET`'s entry), 414 (only ever produced by long, often hostile,
/// URLs: caching it fills the cache with junk keys), 501 (a server error:
/// storing it would prolong an outage). Statuses outside the heuristic list
/// (302, 307, 403, 5xx) are not stored even with explicit freshness:
/// temporary redirects and errors are too often per-visitor or transient.
pub const STORABLE_STATUSES: &[u16] = &[200, 203, 300, 301, 308, 404, 410];

/// The request facts the policy needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// The client's method (only `GET` responses fill the cache).
    pub method: &'a str,
    /// The client request carried `Authorization`.
    pub has_authorization: bool,
}

/// The origin's response head, every field line of each header.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseFacts<'a> {
    /// The origin's status.
    pub status: u16,
    /// `Cache-Control`.
    pub cache_control: &'a [&'a str],
    /// `Surrogate-Control`.
    pub surrogate_control: &'a [&'a str],
    /// `Expires`.
    pub expires: &'a [&'a str],
    /// `Date`.
    pub date: &'a [&'a str],
    /// `Age`.
    pub age: &'a [&'a str],
    /// `Pragma`.
    pub pragma: &'a [&'a str],
    /// `Vary`.
    pub vary: &'a [&'a str],
    /// The origin sent at least one `Set-Cookie`.
    pub has_set_cookie: bool,
}

/// Why a response is not stored. [`NotStored::as_str`] is the stable token
/// for access logs and `Server-Timing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotStored {
    /// `cache.enabled = false`.
    Disabled,
    /// Not a `GET` (or a request that must not fill, e.g. with `Range`).
    Method,
    /// Status outside [`STORABLE_STATUSES`].
    Status,
    /// `private`.
    Private,
    /// `no-store`.
    NoStore,
    /// `no-cache` or `Pragma: no-cache`.
    NoCache,
    /// The origin set a cookie.
    SetCookie,
    /// `Vary: *`.
    VaryStar,
    /// `Vary` names a header outside `cache.vary_headers`.
    VaryUnsupported,
    /// The request had `Authorization` and the response did not allow
    /// shared storage.
    Authorization,
    /// No freshness information and no `cache.default_ttl_s`.
    NoFreshness,
    /// Conflicting or malformed freshness directives.
    InvalidFreshness,
    /// A zero lifetime (`max-age=0`, `Expires` in the past or invalid).
    Expired,
    /// `Age` already exceeds the lifetime.
    StaleOnArrival,
    /// Larger than `cache.max_object_bytes`.
    TooLarge,
    /// The head does not fit the cache metadata.
    HeadTooLarge,
    /// The stream gate passed the response through unrewritten: the
    /// host's own read-through cache is the place for identical bytes.
    /// Set by the adapter after `http::classify`, never by [`decide`].
    NotRewritten,
}

impl NotStored {
    /// Every reason, for tests and for decoding stored markers.
    pub const ALL: [NotStored; 17] = [
        NotStored::Disabled,
        NotStored::Method,
        NotStored::Status,
        NotStored::Private,
        NotStored::NoStore,
        NotStored::NoCache,
        NotStored::SetCookie,
        NotStored::VaryStar,
        NotStored::VaryUnsupported,
        NotStored::Authorization,
        NotStored::NoFreshness,
        NotStored::InvalidFreshness,
        NotStored::Expired,
        NotStored::StaleOnArrival,
        NotStored::TooLarge,
        NotStored::HeadTooLarge,
        NotStored::NotRewritten,
    ];

    /// Stable lower-case token.
    pub fn as_str(self) -> &'static str {
        match self {
            NotStored::Disabled => "disabled",
            NotStored::Method => "method",
            NotStored::Status => "status",
            NotStored::Private => "private",
            NotStored::NoStore => "no-store",
            NotStored::NoCache => "no-cache",
            NotStored::SetCookie => "set-cookie",
            NotStored::VaryStar => "vary-star",
            NotStored::VaryUnsupported => "vary-unsupported",
            NotStored::Authorization => "authorization",
            NotStored::NoFreshness => "no-freshness",
            NotStored::InvalidFreshness => "invalid-freshness",
            NotStored::Expired => "expired",
            NotStored::StaleOnArrival => "stale-on-arrival",
            NotStored::TooLarge => "too-large",
            NotStored::HeadTooLarge => "head-too-large",
            NotStored::NotRewritten => "not-rewritten",
        }
    }

    /// The reason for a token written by [`NotStored::as_str`].
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == token)
    }

    /// True when the reason lies in the response itself, so the next
    /// requests for the key would get the same answer: worth a hit-for-pass
    /// marker (concurrent and later requests pass at once instead of
    /// queueing one by one behind each fetch). Reasons tied to this one
    /// request (its `Authorization`, its method) or to a passing condition
    /// (an old `Age`) never get a marker, which would wrongly make other
    /// requests pass.
    pub fn hit_for_pass(self) -> bool {
        !matches!(
            self,
            NotStored::Disabled
                | NotStored::Method
                | NotStored::Authorization
                | NotStored::StaleOnArrival
        )
    }
}

/// Where the lifetime came from (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreshnessSource {
    /// `Surrogate-Control: max-age`.
    SurrogateControl,
    /// `Cache-Control: s-maxage`.
    SMaxAge,
    /// `Cache-Control: max-age`.
    MaxAge,
    /// `Expires` minus `Date`.
    Expires,
    /// `cache.default_ttl_s`.
    Default,
}

/// What to pass to the core cache insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// `max_age` of the insert: freshness lifetime counted from the start
    /// of the object's history (so it includes `initial_age`).
    pub ttl: Duration,
    /// `initial_age` of the insert (the origin's `Age`).
    pub initial_age: Duration,
    /// How long after expiry the entry may be served while one request
    /// refetches it.
    pub stale_while_revalidate: Duration,
    /// How long after expiry the entry may be served when the refetch
    /// fails (origin error or unreachable).
    pub stale_if_error: Duration,
    /// The request headers the variants differ by.
    pub vary: VaryRule,
    /// Where `ttl` came from.
    pub source: FreshnessSource,
}

impl Store {
    /// The core cache's `stale_while_revalidate` for the insert: the longer
    /// of the two stale windows, since the core cache only keeps an object
    /// usable for that long and has no stale-if-error of its own. The
    /// guest tells the two apart at lookup (`freshness::on_found`).
    pub fn core_stale_window(&self) -> Duration {
        self.stale_while_revalidate.max(self.stale_if_error)
    }
}

/// The policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Insert with these parameters.
    Store(Store),
    /// Do not store (and maybe leave a hit-for-pass marker).
    DoNotStore(NotStored),
}

/// [`decide`] for a `GET` whose response head is a header map: every
/// header the policy reads is taken from it.
pub fn decide_head(
    status: u16,
    headers: &http::HeaderMap,
    has_authorization: bool,
    config: &CacheSettings,
    now: SystemTime,
) -> Decision {
    let all = |name: &str| -> Vec<&str> { crate::http::headers::values(headers, name).collect() };
    let (cache_control, surrogate_control, expires) = (
        all("cache-control"),
        all("surrogate-control"),
        all("expires"),
    );
    let (date, age, pragma, vary) = (all("date"), all("age"), all("pragma"), all("vary"));
    let request = RequestFacts {
        method: "GET",
        has_authorization,
    };
    let response = ResponseFacts {
        status,
        cache_control: &cache_control,
        surrogate_control: &surrogate_control,
        expires: &expires,
        date: &date,
        age: &age,
        pragma: &pragma,
        vary: &vary,
        has_set_cookie: headers.contains_key(http::header::SET_COOKIE),
    };
    decide(&request, &response, config, now)
}

/// Decides storability and freshness. `now` is the time the response head
/// arrived (used only when `Expires` comes without a valid `Date`).
pub fn decide(
    request: &RequestFacts<'_>,
    response: &ResponseFacts<'_>,
    config: &CacheSettings,
    now: SystemTime,
) -> Decision {
    match decide_inner(request, response, config, now) {
        Ok(store) => Decision::Store(store),
        Err(reason) => Decision::DoNotStore(reason),
    }
}

fn decide_inner(
    request: &RequestFacts<'_>,
    response: &ResponseFacts<'_>,
    config: &CacheSettings,
    now: SystemTime,
) -> Result<Store, NotStored> {
    if !config.enabled {
        return Err(NotStored::Disabled);
    }
    if request.method != "GET" {
        return Err(NotStored::Method);
    }
    if !STORABLE_STATUSES.contains(&response.status) {
        return Err(NotStored::Status);
    }
    let cc = Directives::parse(response.cache_control);
    let sc = Directives::parse(response.surrogate_control);
    if cc.has("private") || sc.has("private") {
        return Err(NotStored::Private);
    }
    if cc.has("no-store") || sc.has("no-store") {
        return Err(NotStored::NoStore);
    }
    if response.has_set_cookie {
        return Err(NotStored::SetCookie);
    }
    let vary = VaryRule::from_response(response.vary, &config.vary_headers)?;
    if request.has_authorization
        && !(cc.has("public") || cc.has("s-maxage") || cc.has("must-revalidate"))
    {
        return Err(NotStored::Authorization);
    }

    let (lifetime, source, governing) = match sc.seconds("max-age") {
        Seconds::Valid(s) => (Some(s), FreshnessSource::SurrogateControl, &sc),
        Seconds::Invalid => return Err(NotStored::InvalidFreshness),
        Seconds::Absent => {
            if cc.has("no-cache") || sc.has("no-cache") {
                return Err(NotStored::NoCache);
            }
            if cc.is_empty() && Directives::parse(response.pragma).has("no-cache") {
                return Err(NotStored::NoCache);
            }
            let (lifetime, source) = cache_control_lifetime(&cc, response, now)?;
            (lifetime, source, &cc)
        }
    };
    let (lifetime, source) = match lifetime {
        Some(l) => (l, source),
        None if config.default_ttl_s > 0 => (config.default_ttl_s, FreshnessSource::Default),
        None => return Err(NotStored::NoFreshness),
    };
    if lifetime == 0 {
        return Err(NotStored::Expired);
    }

    let initial_age = initial_age(response.age);
    if initial_age >= lifetime {
        return Err(NotStored::StaleOnArrival);
    }
    let kept = (lifetime - initial_age).min(config.max_ttl_s);

    let no_stale = governing.has("must-revalidate") || governing.has("proxy-revalidate");
    let window = |name: &str| match governing.seconds(name) {
        Seconds::Valid(s) if !no_stale => s.min(config.max_ttl_s),
        _ => 0,
    };
    Ok(Store {
        ttl: Duration::from_secs(initial_age + kept),
        initial_age: Duration::from_secs(initial_age),
        stale_while_revalidate: Duration::from_secs(window("stale-while-revalidate")),
        stale_if_error: Duration::from_secs(window("stale-if-error")),
        vary,
        source,
    })
}

/// `s-maxage`, `max-age`, then `Expires - Date`. `Ok(None)`: no freshness
/// information at all.
fn cache_control_lifetime(
    cc: &Directives,
    response: &ResponseFacts<'_>,
    now: SystemTime,
) -> Result<(Option<u64>, FreshnessSource), NotStored> {
    for (name, source) in [
        ("s-maxage", FreshnessSource::SMaxAge),
        ("max-age", FreshnessSource::MaxAge),
    ] {
        match cc.seconds(name) {
            Seconds::Valid(s) => return Ok((Some(s), source)),
            Seconds::Invalid => return Err(NotStored::InvalidFreshness),
            Seconds::Absent => {}
        }
    }
    let Some(expires) = single_value(response.expires)? else {
        return Ok((None, FreshnessSource::Expires));
    };
    // §5.3: an invalid Expires (notably "0") means "already expired".
    let Ok(expires) = httpdate::parse_http_date(expires.trim()) else {
        return Err(NotStored::Expired);
    };
    let date = single_value(response.date)
        .ok()
        .flatten()
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .unwrap_or(now);
    let lifetime = expires.duration_since(date).map_or(0, |d| d.as_secs());
    Ok((Some(lifetime), FreshnessSource::Expires))
}

/// The one value of a header that must not repeat; several different
/// values are invalid (most restrictive reading of §4.2.1).
fn single_value<'a>(values: &[&'a str]) -> Result<Option<&'a str>, NotStored> {
    let mut found: Option<&str> = None;
    for v in values {
        match found {
            None => found = Some(v),
            Some(prev) if prev.trim() == v.trim() => {}
            Some(_) => return Err(NotStored::InvalidFreshness),
        }
    }
    Ok(found)
}

/// The largest valid `Age` value, 0 when none is valid.
fn initial_age(values: &[&str]) -> u64 {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .filter_map(|v| {
            let v = v.trim_matches([' ', '\t']);
            (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())).then(|| {
                v.parse::<u64>()
                    .unwrap_or(super::directives::DELTA_SECONDS_MAX)
            })
        })
        .max()
        .unwrap_or(0)
        .min(super::directives::DELTA_SECONDS_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GET: RequestFacts<'static> = RequestFacts {
        method: "GET",
        has_authorization: false,
    };

    fn now() -> SystemTime {
        httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap()
    }

    fn cfg() -> CacheSettings {
        CacheSettings::default()
    }

    fn ok(status: u16) -> ResponseFacts<'static> {
        ResponseFacts {
            status,
            ..ResponseFacts::default()
        }
    }

    fn store(d: Decision) -> Store {
        match d {
            Decision::Store(s) => s,
            Decision::DoNotStore(r) => panic!("not stored: {}", r.as_str()),
        }
    }

    fn reason(d: Decision) -> NotStored {
        match d {
            Decision::DoNotStore(r) => r,
            Decision::Store(s) => panic!("stored: {s:?}"),
        }
    }

    #[test]
    fn a_header_map_is_read_for_every_fact_the_policy_needs() {
        let head = |pairs: &[(&'static str, &str)]| -> http::HeaderMap {
            let parse = |(n, v): &(&'static str, &str)| {
                (http::HeaderName::from_static(n), v.parse().unwrap())
            };
            pairs.iter().map(parse).collect()
        };
        let fresh = head(&[
            ("cache-control", "public"),
            ("cache-control", "max-age=40"),
            ("age", "10"),
        ]);
        let s = store(decide_head(200, &fresh, true, &cfg(), now()));
        assert_eq!(
            (s.ttl, s.initial_age),
            (Duration::from_secs(40), Duration::from_secs(10))
        );
        let cookie = head(&[("cache-control", "max-age=40"), ("set-cookie", "a=b")]);
        assert_eq!(
            reason(decide_head(200, &cookie, false, &cfg(), now())),
            NotStored::SetCookie
        );
        let authorized = head(&[("cache-control", "max-age=40")]);
        assert_eq!(
            reason(decide_head(200, &authorized, true, &cfg(), now())),
            NotStored::Authorization
        );
        let varied = head(&[("cache-control", "max-age=40"), ("vary", "*")]);
        assert!(matches!(
            decide_head(200, &varied, false, &cfg(), now()),
            Decision::DoNotStore(_)
        ));
    }

    #[test]
    fn freshness_order_is_surrogate_then_s_maxage_then_max_age_then_expires() {
        let all = ResponseFacts {
            cache_control: &["max-age=30, s-maxage=20"],
            surrogate_control: &["max-age=10"],
            expires: &["Sun, 06 Nov 1994 08:50:37 GMT"],
            date: &["Sun, 06 Nov 1994 08:49:37 GMT"],
            ..ok(200)
        };
        let s = store(decide(&GET, &all, &cfg(), now()));
        assert_eq!(
            (s.ttl, s.source),
            (Duration::from_secs(10), FreshnessSource::SurrogateControl)
        );
        let s = store(decide(
            &GET,
            &ResponseFacts {
                surrogate_control: &[],
                ..all
            },
            &cfg(),
            now(),
        ));
        assert_eq!(
            (s.ttl, s.source),
            (Duration::from_secs(20), FreshnessSource::SMaxAge)
        );
        let s = store(decide(
            &GET,
            &ResponseFacts {
                surrogate_control: &[],
                cache_control: &["max-age=30"],
                ..all
            },
            &cfg(),
            now(),
        ));
        assert_eq!(
            (s.ttl, s.source),
            (Duration::from_secs(30), FreshnessSource::MaxAge)
        );
        let s = store(decide(
            &GET,
            &ResponseFacts {
                surrogate_control: &[],
                cache_control: &[],
                ..all
            },
            &cfg(),
            now(),
        ));
        assert_eq!(
            (s.ttl, s.source),
            (Duration::from_secs(60), FreshnessSource::Expires)
        );
    }

    #[test]
    fn expires_without_date_counts_from_now() {
        let r = ResponseFacts {
            expires: &["Sun, 06 Nov 1994 08:51:37 GMT"],
            ..ok(200)
        };
        assert_eq!(
            store(decide(&GET, &r, &cfg(), now())).ttl,
            Duration::from_secs(120)
        );
        let rfc850 = ResponseFacts {
            expires: &["Sunday, 06-Nov-94 08:51:37 GMT"],
            ..ok(200)
        };
        assert_eq!(
            store(decide(&GET, &rfc850, &cfg(), now())).ttl,
            Duration::from_secs(120)
        );
    }

    #[test]
    fn invalid_or_past_expires_is_expired() {
        for e in ["0", "tomorrow", "Sun, 06 Nov 1994 08:49:00 GMT"] {
            let r = ResponseFacts {
                expires: &[e],
                ..ok(200)
            };
            assert_eq!(
                reason(decide(&GET, &r, &cfg(), now())),
                NotStored::Expired,
                "{e}"
            );
        }
        let two = ResponseFacts {
            expires: &[
                "Sun, 06 Nov 1994 08:51:37 GMT",
                "Sun, 06 Nov 1994 09:51:37 GMT",
            ],
            ..ok(200)
        };
        assert_eq!(
            reason(decide(&GET, &two, &cfg(), now())),
            NotStored::InvalidFreshness
        );
    }

    #[test]
    fn never_stored_cases() {
        let cases: &[(ResponseFacts<'_>, NotStored)] = &[
            (
                ResponseFacts {
                    cache_control: &["private, max-age=60"],
                    ..ok(200)
                },
                NotStored::Private,
            ),
            (
                ResponseFacts {
                    cache_control: &["Private=\"set-cookie\", max-age=60"],
                    ..ok(200)
                },
                NotStored::Private,
            ),
            (
                ResponseFacts {
                    cache_control: &["no-store, max-age=60"],
                    ..ok(200)
                },
                NotStored::NoStore,
            ),
            (
                ResponseFacts {
                    cache_control: &["no-cache, max-age=60"],
                    ..ok(200)
                },
                NotStored::NoCache,
            ),
            (
                ResponseFacts {
                    pragma: &["no-cache"],
                    expires: &["Sun, 06 Nov 1994 09:49:37 GMT"],
                    ..ok(200)
                },
                NotStored::NoCache,
            ),
            (
                ResponseFacts {
                    cache_control: &["max-age=60"],
                    has_set_cookie: true,
                    ..ok(200)
                },
                NotStored::SetCookie,
            ),
            (
                ResponseFacts {
                    cache_control: &["max-age=60"],
                    vary: &["*"],
                    ..ok(200)
                },
                NotStored::VaryStar,
            ),
            (
                ResponseFacts {
                    cache_control: &["max-age=60"],
                    vary: &["Cookie"],
                    ..ok(200)
                },
                NotStored::VaryUnsupported,
            ),
            (
                ResponseFacts {
                    cache_control: &["max-age=60"],
                    ..ok(302)
                },
                NotStored::Status,
            ),
            (
                ResponseFacts {
                    cache_control: &["max-age=0"],
                    ..ok(200)
                },
                NotStored::Expired,
            ),
            (
                ResponseFacts {
                    cache_control: &["max-age=ten"],
                    ..ok(200)
                },
                NotStored::InvalidFreshness,
            ),
            (
                ResponseFacts {
                    cache_control: &["max-age=10", "max-age=20"],
                    ..ok(200)
                },
                NotStored::InvalidFreshness,
            ),
            (
                ResponseFacts {
                    surrogate_control: &["max-age=x"],
                    cache_control: &["max-age=60"],
                    ..ok(200)
                },
                NotStored::InvalidFreshness,
            ),
            (
                ResponseFacts {
                    surrogate_control: &["no-store"],
                    cache_control: &["max-age=60"],
                    ..ok(200)
                },
                NotStored::NoStore,
            ),
            (
                ResponseFacts {
                    surrogate_control: &["max-age=60"],
                    cache_control: &["private"],
                    ..ok(200)
                },
                NotStored::Private,
            ),
            (
                ResponseFacts {
                    surrogate_control: &["max-age=60"],
                    cache_control: &["no-store"],
                    ..ok(200)
                },
                NotStored::NoStore,
            ),
            (
                ResponseFacts {
                    cache_control: &["max-age=60"],
                    age: &["60"],
                    ..ok(200)
                },
                NotStored::StaleOnArrival,
            ),
            (ok(200), NotStored::NoFreshness),
        ];
        for (r, want) in cases {
            assert_eq!(reason(decide(&GET, r, &cfg(), now())), *want, "{r:?}");
        }
    }

    #[test]
    fn pragma_is_ignored_when_cache_control_is_present() {
        let r = ResponseFacts {
            cache_control: &["max-age=60"],
            pragma: &["no-cache"],
            ..ok(200)
        };
        assert_eq!(
            store(decide(&GET, &r, &cfg(), now())).ttl,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn surrogate_control_overrides_browser_no_cache() {
        let r = ResponseFacts {
            cache_control: &["no-cache, must-revalidate"],
            surrogate_control: &["max-age=600, stale-while-revalidate=30"],
            ..ok(200)
        };
        let s = store(decide(&GET, &r, &cfg(), now()));
        assert_eq!(s.ttl, Duration::from_secs(600));
        assert_eq!(
            s.stale_while_revalidate,
            Duration::from_secs(30),
            "Cache-Control's must-revalidate is for browsers here"
        );
    }

    #[test]
    fn storable_statuses_only() {
        for status in 100..=599u16 {
            let r = ResponseFacts {
                cache_control: &["max-age=60"],
                ..ok(status)
            };
            let stored = matches!(decide(&GET, &r, &cfg(), now()), Decision::Store(_));
            assert_eq!(stored, STORABLE_STATUSES.contains(&status), "{status}");
        }
    }

    #[test]
    fn only_get_fills_and_disabled_stores_nothing() {
        let r = ResponseFacts {
            cache_control: &["max-age=60"],
            ..ok(200)
        };
        for method in ["HEAD", "POST", "get"] {
            let req = RequestFacts { method, ..GET };
            assert_eq!(reason(decide(&req, &r, &cfg(), now())), NotStored::Method);
        }
        let off = CacheSettings {
            enabled: false,
            ..cfg()
        };
        assert_eq!(reason(decide(&GET, &r, &off, now())), NotStored::Disabled);
    }

    #[test]
    fn authorization_needs_public_s_maxage_or_must_revalidate() {
        let auth = RequestFacts {
            has_authorization: true,
            ..GET
        };
        for cc in ["max-age=60", "max-age=60, proxy-revalidate"] {
            let r = ResponseFacts {
                cache_control: &[cc],
                ..ok(200)
            };
            assert_eq!(
                reason(decide(&auth, &r, &cfg(), now())),
                NotStored::Authorization,
                "{cc}"
            );
        }
        for cc in [
            "public, max-age=60",
            "s-maxage=60",
            "must-revalidate, max-age=60",
        ] {
            let r = ResponseFacts {
                cache_control: &[cc],
                ..ok(200)
            };
            assert!(
                matches!(decide(&auth, &r, &cfg(), now()), Decision::Store(_)),
                "{cc}"
            );
        }
        let sc_only = ResponseFacts {
            surrogate_control: &["max-age=60"],
            ..ok(200)
        };
        assert_eq!(
            reason(decide(&auth, &sc_only, &cfg(), now())),
            NotStored::Authorization
        );
    }

    #[test]
    fn default_ttl_applies_only_without_freshness() {
        let with_default = CacheSettings {
            default_ttl_s: 120,
            ..cfg()
        };
        let s = store(decide(&GET, &ok(200), &with_default, now()));
        assert_eq!(
            (s.ttl, s.source),
            (Duration::from_secs(120), FreshnessSource::Default)
        );
        let explicit = ResponseFacts {
            cache_control: &["max-age=5"],
            ..ok(200)
        };
        assert_eq!(
            store(decide(&GET, &explicit, &with_default, now())).ttl,
            Duration::from_secs(5)
        );
        let public_only = ResponseFacts {
            cache_control: &["public"],
            ..ok(200)
        };
        assert_eq!(
            reason(decide(&GET, &public_only, &cfg(), now())),
            NotStored::NoFreshness
        );
    }

    #[test]
    fn age_and_cap() {
        let r = ResponseFacts {
            cache_control: &["max-age=1000, stale-while-revalidate=50000, stale-if-error=7"],
            age: &["100", "x", "40"],
            ..ok(200)
        };
        let capped = CacheSettings {
            max_ttl_s: 300,
            ..cfg()
        };
        let s = store(decide(&GET, &r, &capped, now()));
        assert_eq!(s.initial_age, Duration::from_secs(100));
        assert_eq!(
            s.ttl,
            Duration::from_secs(400),
            "kept for at most 300 s after arrival"
        );
        assert_eq!(s.stale_while_revalidate, Duration::from_secs(300));
        assert_eq!(s.stale_if_error, Duration::from_secs(7));
        assert_eq!(s.core_stale_window(), Duration::from_secs(300));
        let s = store(decide(&GET, &r, &cfg(), now()));
        assert_eq!(s.ttl, Duration::from_secs(1000));
    }

    #[test]
    fn must_revalidate_disables_stale_serving() {
        for cc in [
            "max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30",
            "max-age=60, proxy-revalidate, stale-while-revalidate=30, stale-if-error=30",
        ] {
            let r = ResponseFacts {
                cache_control: &[cc],
                ..ok(200)
            };
            let s = store(decide(&GET, &r, &cfg(), now()));
            assert_eq!(s.core_stale_window(), Duration::ZERO, "{cc}");
        }
        let bad_window = ResponseFacts {
            cache_control: &["max-age=60, stale-while-revalidate=soon"],
            ..ok(200)
        };
        assert_eq!(
            store(decide(&GET, &bad_window, &cfg(), now())).stale_while_revalidate,
            Duration::ZERO
        );
    }

    #[test]
    fn vary_rule_is_returned() {
        let r = ResponseFacts {
            cache_control: &["max-age=60"],
            vary: &["Accept-Encoding, Accept-Language"],
            ..ok(200)
        };
        assert_eq!(
            store(decide(&GET, &r, &cfg(), now())).vary.names(),
            ["accept-language"]
        );
    }

    #[test]
    fn tokens_round_trip_and_marker_policy() {
        for r in NotStored::ALL {
            assert_eq!(NotStored::from_token(r.as_str()), Some(r));
        }
        assert!(NotStored::SetCookie.hit_for_pass());
        assert!(NotStored::Private.hit_for_pass());
        assert!(
            NotStored::NotRewritten.hit_for_pass(),
            "binaries must not queue"
        );
        assert!(!NotStored::Authorization.hit_for_pass());
        assert!(!NotStored::Method.hit_for_pass());
        assert_eq!(NotStored::from_token("nope"), None);
    }

    proptest! {
        /// Whatever the headers, a stored decision is internally coherent:
        /// fresh on arrival, within the cap, and never for a never-store
        /// directive.
        #[test]
        fn stored_decisions_are_coherent(
            cc in proptest::collection::vec("(private|no-store|no-cache|public|must-revalidate|max-age=[0-9]{1,4}|s-maxage=[0-9]{1,4}|stale-while-revalidate=[0-9]{1,5}|max-age=x)", 0..5),
            sc in proptest::collection::vec("(max-age=[0-9]{1,4}|no-store|stale-if-error=[0-9]{1,5})", 0..3),
            age in proptest::option::of(0u64..5000),
            status in prop_oneof![Just(200u16), Just(404), Just(500)],
            auth in any::<bool>(),
            cookie in any::<bool>(),
        ) {
            let cc_line = cc.join(", ");
            let sc_line = sc.join(", ");
            let age_line = age.map(|a| a.to_string()).unwrap_or_default();
            let cc_v = [cc_line.as_str()];
            let sc_v = [sc_line.as_str()];
            let age_v = [age_line.as_str()];
            let r = ResponseFacts {
                status,
                cache_control: &cc_v,
                surrogate_control: &sc_v,
                age: if age.is_some() { &age_v } else { &[] },
                has_set_cookie: cookie,
                ..ResponseFacts::default()
            };
            let req = RequestFacts { method: "GET", has_authorization: auth };
            let config = CacheSettings { max_ttl_s: 600, ..cfg() };
            if let Decision::Store(s) = decide(&req, &r, &config, now()) {
                prop_assert!(s.initial_age < s.ttl);
                prop_assert!(s.ttl - s.initial_age <= Duration::from_secs(600));
                prop_assert!(s.core_stale_window() <= Duration::from_secs(600));
                prop_assert!(!cc_line.contains("private") && !cc_line.contains("no-store"));
                prop_assert!(!sc_line.contains("no-store"));
                prop_assert!(!cookie);
                prop_assert!(status != 500);
            }
        }
    }
}
