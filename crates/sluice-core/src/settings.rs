//! Service settings parsed from flat key/value configuration (the Config
//! Store `sluice` on Fastly).
//!
//! Keys are flat strings (the edge-dictionary convention) so operators can
//! change them without a deploy. Every key, its meaning and its default is
//! documented in `docs/CONFIG.md`; a value that does not parse is a
//! configuration error (HTTP 500 with the key name, never a panic), because
//! silently falling back to a default would hide a broken deploy.

use std::fmt;

use crate::stream::dispatch::DispatchLimits;
use crate::stream::plan::PlanPolicy;

/// A configuration value that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The offending key.
    pub key: &'static str,
    /// What was wrong, safe to show to a client (no values echoed).
    pub problem: &'static str,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}` {}", self.key, self.problem)
    }
}

impl std::error::Error for SettingsError {}

/// Output encoding policy for rewritten bodies.
///
/// The default is [`OutputEncoding::IdentityWithHint`]: the guest's CPU
/// (50 ms per request on Fastly) is the scarce resource, and re-encoding
/// gzip in the guest costs more of it than decoding and rewriting together
/// (docs/BENCHMARKS.md, "Publisher through Viceroy"), while Fastly's host
/// applies the same streaming level-1 compression (brotli when the client
/// takes it) outside the guest's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputEncoding {
    /// Re-encode in the origin's encoding (when the client accepts it):
    /// for hosts that do not honour the hint (Viceroy ignores it), or to
    /// pin the encoding the client gets.
    Origin,
    /// Send identity plus `x-compress-hint: on`, so Fastly's host
    /// compresses the stream (when the client accepts an encoding) at no
    /// guest CPU cost.
    IdentityWithHint,
}

/// Typed settings for one request.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lower-case origin hosts whose URLs are rewritten to the edge host.
    pub rewrite_hosts: Vec<String>,
    /// The log level for `log-fastly`.
    pub log_level: LogLevel,
    /// Path prefixes whose HTML gets the buffered `ETag` post-processor.
    pub buffered_paths: Vec<String>,
    /// Cap for the buffered path; over it the response streams instead.
    pub buffer_max_bytes: usize,
    /// Longest a buffered body waits for its end before it streams instead
    /// (milliseconds): bounds the first byte behind a slow origin, and is
    /// how soon a client that went away is noticed (only a write to the
    /// client can tell).
    pub buffer_max_ms: u64,
    /// How rewritten bodies are encoded for the client.
    pub output_encoding: OutputEncoding,
    /// gzip/deflate level of re-encoded bodies (0..=9): the guest pays for
    /// it out of Fastly's per-request CPU budget.
    pub gzip_level: u32,
    /// Brotli quality of re-encoded bodies (0..=11).
    pub brotli_quality: u32,
    /// `Max-Age` of the synthetic ID cookie, in seconds.
    pub synthetic_id_max_age: u64,
    /// Largest accepted request body, in bytes (`None`: unlimited).
    pub upload_max_bytes: Option<u64>,
    /// Largest decoded body the pipeline accepts (`None`: unlimited).
    pub max_decoded_bytes: Option<u64>,
    /// Path prefix of the AI gateway's OpenAI-compatible routes.
    pub ai_prefix: String,
    /// Largest AI request body, in bytes.
    pub ai_max_body_bytes: usize,
    /// Attempts per AI request (primary, then `llm_fallback`).
    pub ai_max_attempts: u32,
    /// Wait before the first retry, in milliseconds (doubles per retry).
    pub ai_backoff_ms: u64,
    /// Serve the unparsed relay route `/__relay{prefix}/...` (benchmark
    /// floor; still authenticated).
    pub ai_relay_floor: bool,
    /// Limits of origin-planned dispatch streams (`dispatch.*` keys).
    pub dispatch_limits: DispatchLimits,
    /// Upstream-plan policy: the backend allow-list (`plans.upstream_backends`,
    /// empty by default so no plan reaches any backend until an operator
    /// names one) and the caps of plan limits (`plans.*` keys).
    pub plan_policy: PlanPolicy,
    /// Edge cache of rewritten responses (`cache.*` keys).
    pub cache: CacheSettings,

    // --- CPU budget, synthetic-ID switch and brotli window cap
    // (`publisher.cpu_budget_ms`, `publisher.synthetic_id`,
    // `pipeline.max_brotli_window_bytes`) ---
    /// vCPU milliseconds a rewrite may spend before the rest of the body is
    /// sent as the origin sent it (`0`: never stop rewriting). See
    /// [`crate::budget`].
    pub cpu_budget_ms: u64,
    /// Whether visitors get a signed synthetic ID.
    pub synthetic_id: SyntheticIdMode,
    /// Largest brotli window an origin body may declare (see
    /// [`crate::PipelineLimits::with_max_brotli_window`]).
    pub max_brotli_window_bytes: usize,
}

impl Settings {
    /// The defaults documented in `docs/CONFIG.md`.
    pub fn defaults() -> Self {
        Self {
            rewrite_hosts: Vec::new(),
            log_level: LogLevel::Info,
            buffered_paths: Vec::new(),
            buffer_max_bytes: 16 * 1024 * 1024,
            buffer_max_ms: 1000,
            output_encoding: OutputEncoding::IdentityWithHint,
            gzip_level: crate::pipeline::DEFAULT_GZIP_LEVEL,
            brotli_quality: crate::pipeline::DEFAULT_BROTLI_QUALITY,
            synthetic_id_max_age: 365 * 24 * 3600,
            upload_max_bytes: None,
            max_decoded_bytes: None,
            ai_prefix: "/v1".to_owned(),
            ai_max_body_bytes: 4 * 1024 * 1024,
            ai_max_attempts: 2,
            ai_backoff_ms: 100,
            ai_relay_floor: false,
            dispatch_limits: DispatchLimits::default(),
            plan_policy: PlanPolicy::new(Vec::<String>::new()),
            cache: CacheSettings::default(),
            cpu_budget_ms: crate::budget::DEFAULT_CPU_BUDGET_MS,
            synthetic_id: SyntheticIdMode::Auto,
            max_brotli_window_bytes: crate::limits::DEFAULT_MAX_BROTLI_WINDOW,
        }
    }

    /// Parses settings from any key lookup (the Config Store in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut s = Self::defaults();
        if let Some(v) = get("publisher.rewrite_hosts") {
            s.rewrite_hosts = parse_hosts(&v)?;
        }
        if let Some(v) = get("log.level") {
            s.log_level = v.trim().parse().map_err(|_| SettingsError {
                key: "log.level",
                problem: "must be one of off, error, warn, info, debug, trace",
            })?;
        }
        if let Some(v) = get("publisher.buffered_paths") {
            s.buffered_paths = list(&v)
                .map(|p| {
                    if p.starts_with('/') {
                        Ok(p.to_owned())
                    } else {
                        Err(SettingsError {
                            key: "publisher.buffered_paths",
                            problem: "entries must be path prefixes starting with /",
                        })
                    }
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = get("publisher.buffer_max_bytes") {
            s.buffer_max_bytes = parse_num(&v, "publisher.buffer_max_bytes")?;
        }
        if let Some(v) = get("publisher.buffer_max_ms") {
            s.buffer_max_ms = parse_num(&v, "publisher.buffer_max_ms")?;
        }
        if let Some(v) = get("publisher.gzip_level") {
            s.gzip_level = parse_num(&v, "publisher.gzip_level")?;
            if s.gzip_level > 9 {
                return Err(SettingsError {
                    key: "publisher.gzip_level",
                    problem: "must be 0..=9",
                });
            }
        }
        if let Some(v) = get("publisher.brotli_quality") {
            s.brotli_quality = parse_num(&v, "publisher.brotli_quality")?;
            if s.brotli_quality > 11 {
                return Err(SettingsError {
                    key: "publisher.brotli_quality",
                    problem: "must be 0..=11",
                });
            }
        }
        if let Some(v) = get("publisher.output_encoding") {
            s.output_encoding = match v.trim() {
                "origin" => OutputEncoding::Origin,
                "identity" => OutputEncoding::IdentityWithHint,
                _ => {
                    return Err(SettingsError {
                        key: "publisher.output_encoding",
                        problem: "must be `origin` or `identity`",
                    })
                }
            };
        }
        if let Some(v) = get("publisher.synthetic_id_max_age") {
            s.synthetic_id_max_age = parse_num(&v, "publisher.synthetic_id_max_age")?;
        }
        if let Some(v) = get("upload.max_bytes") {
            s.upload_max_bytes = parse_optional_num(&v, "upload.max_bytes")?;
        }
        if let Some(v) = get("pipeline.max_decoded_bytes") {
            s.max_decoded_bytes = parse_optional_num(&v, "pipeline.max_decoded_bytes")?;
        }
        if let Some(v) = get("ai.prefix") {
            let v = v.trim();
            if !(v.is_empty() || v.starts_with('/')) || v.contains(char::is_whitespace) {
                return Err(SettingsError {
                    key: "ai.prefix",
                    problem: "must be a path prefix starting with /",
                });
            }
            s.ai_prefix = v.to_owned();
        }
        if let Some(v) = get("ai.max_body_bytes") {
            s.ai_max_body_bytes = parse_num(&v, "ai.max_body_bytes")?;
        }
        if let Some(v) = get("ai.max_attempts") {
            s.ai_max_attempts = parse_num(&v, "ai.max_attempts")?;
            if s.ai_max_attempts == 0 {
                return Err(SettingsError {
                    key: "ai.max_attempts",
                    problem: "must be at least 1",
                });
            }
        }
        if let Some(v) = get("ai.backoff_ms") {
            s.ai_backoff_ms = parse_num(&v, "ai.backoff_ms")?;
        }
        if let Some(v) = get("ai.relay_floor") {
            s.ai_relay_floor = match v.trim() {
                "true" | "on" | "1" => true,
                "false" | "off" | "0" => false,
                _ => {
                    return Err(SettingsError {
                        key: "ai.relay_floor",
                        problem: "must be true or false",
                    })
                }
            };
        }
        s.dispatch_limits = dispatch_limits(&get)?;
        s.plan_policy = plan_policy(&get)?;
        s.cache = cache_settings(&get)?;
        budget_identity_window(&get, &mut s)?;
        Ok(s)
    }

    /// True when the buffered post-processor is enabled for `path`.
    pub fn wants_buffering(&self, path: &str) -> bool {
        self.buffered_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()))
    }
}

/// `publisher.cpu_budget_ms`, `publisher.synthetic_id` and
/// `pipeline.max_brotli_window_bytes`.
fn budget_identity_window(
    get: &impl Fn(&str) -> Option<String>,
    s: &mut Settings,
) -> Result<(), SettingsError> {
    if let Some(v) = get("publisher.cpu_budget_ms") {
        s.cpu_budget_ms = parse_num(&v, "publisher.cpu_budget_ms")?;
    }
    if let Some(v) = get("publisher.synthetic_id") {
        s.synthetic_id = match v.trim() {
            "auto" => SyntheticIdMode::Auto,
            "on" => SyntheticIdMode::On,
            "off" => SyntheticIdMode::Off,
            _ => {
                return Err(SettingsError {
                    key: "publisher.synthetic_id",
                    problem: "must be `auto`, `on` or `off`",
                })
            }
        };
    }
    if let Some(v) = get("pipeline.max_brotli_window_bytes") {
        let key = "pipeline.max_brotli_window_bytes";
        let bytes: usize = parse_num(&v, key)?;
        if !(crate::limits::MIN_BROTLI_WINDOW..=crate::limits::MAX_BROTLI_WINDOW).contains(&bytes) {
            return Err(SettingsError {
                key,
                problem: "must be 1024..=16777216 (the window sizes brotli defines)",
            });
        }
        s.max_brotli_window_bytes = bytes;
    }
    Ok(())
}

/// `publisher.synthetic_id`: whether visitors get a signed `sluice_id`.
///
/// A new service has no `synthetic_id_key` secret yet; `auto` lets it serve
/// pages anyway (without IDs) instead of failing every request, while `on`
/// keeps the strict behaviour for services that rely on the ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyntheticIdMode {
    /// On when the `synthetic_id_key` secret exists, off when it does not.
    Auto,
    /// Always on: a missing or short key is a configuration error.
    On,
    /// Never: no cookie is issued or read and no ID reaches the origin.
    Off,
}

/// The Secret Store key holding the synthetic ID's HMAC key.
pub const SYNTHETIC_ID_KEY: &str = "synthetic_id_key";

impl SyntheticIdMode {
    /// Whether the secret must be looked up at all (`off` never reads it).
    pub fn needs_key(self) -> bool {
        self != Self::Off
    }

    /// The signer for this request, given the `synthetic_id_key` secret
    /// (`None` when the store has no such key). `Ok(None)`: synthetic IDs
    /// are off for this request.
    ///
    /// A key that exists but is shorter than
    /// [`crate::http::synthetic_id::MIN_KEY_LEN`] is an error in `auto`
    /// too: it was meant to be used, and quietly running without IDs
    /// would hide the broken secret.
    pub fn resolve(
        self,
        key: Option<&[u8]>,
    ) -> Result<Option<crate::http::synthetic_id::Signer>, SettingsError> {
        use crate::http::synthetic_id::Signer;
        let key = match (self, key) {
            (Self::Off, _) | (Self::Auto, None) => return Ok(None),
            (Self::On, None) => {
                return Err(SettingsError {
                    key: SYNTHETIC_ID_KEY,
                    problem: "is missing from the Secret Store (publisher.synthetic_id = on)",
                })
            }
            (Self::On | Self::Auto, Some(k)) => k,
        };
        Signer::new(key).map(Some).map_err(|_| SettingsError {
            key: SYNTHETIC_ID_KEY,
            problem: "must be at least 16 bytes",
        })
    }

    /// The configured value, as written in the Config Store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::On => "on",
            Self::Off => "off",
        }
    }
}

/// `dispatch.*`: every [`DispatchLimits`] field, each optional.
fn dispatch_limits(get: &impl Fn(&str) -> Option<String>) -> Result<DispatchLimits, SettingsError> {
    let d = DispatchLimits::default();
    let num = |key: &'static str, default: u64| -> Result<u64, SettingsError> {
        get(key).map_or(Ok(default), |v| parse_num(&v, key))
    };
    let positive = |key: &'static str, default: u64| -> Result<u64, SettingsError> {
        let v = num(key, default)?;
        if v == 0 {
            return Err(SettingsError {
                key,
                problem: "must be at least 1",
            });
        }
        Ok(v)
    };
    let size = |key: &'static str, default: usize| -> Result<usize, SettingsError> {
        let v = positive(key, default as u64)?;
        usize::try_from(v).map_err(|_| SettingsError {
            key,
            problem: "is too large",
        })
    };
    let idle_initial = positive(
        "dispatch.idle_backoff_initial_ms",
        d.idle_backoff_initial_ms,
    )?;
    let idle_max = num("dispatch.idle_backoff_max_ms", d.idle_backoff_max_ms)?;
    if idle_max < idle_initial {
        return Err(SettingsError {
            key: "dispatch.idle_backoff_max_ms",
            problem: "must not be below dispatch.idle_backoff_initial_ms",
        });
    }
    let retry_initial = positive(
        "dispatch.retry_backoff_initial_ms",
        d.retry_backoff_initial_ms,
    )?;
    let retry_max = num("dispatch.retry_backoff_max_ms", d.retry_backoff_max_ms)?;
    if retry_max < retry_initial {
        return Err(SettingsError {
            key: "dispatch.retry_backoff_max_ms",
            problem: "must not be below dispatch.retry_backoff_initial_ms",
        });
    }
    let retries = num("dispatch.max_step_retries", u64::from(d.max_step_retries))?;
    let retries = u32::try_from(retries).map_err(|_| SettingsError {
        key: "dispatch.max_step_retries",
        problem: "is too large",
    })?;
    Ok(
        d.with_max_steps(positive("dispatch.max_steps", d.max_steps)?)
            .with_step_timeout_ms(positive("dispatch.step_timeout_ms", d.step_timeout_ms)?)
            .with_max_duration_ms(positive("dispatch.max_duration_ms", d.max_duration_ms)?)
            .with_max_state_bytes(size("dispatch.max_state_bytes", d.max_state_bytes)?)
            .with_max_message_bytes(size("dispatch.max_message_bytes", d.max_message_bytes)?)
            .with_idle_backoff_ms(idle_initial, idle_max)
            .with_keepalive_interval_ms(num(
                "dispatch.keepalive_interval_ms",
                d.keepalive_interval_ms,
            )?)
            .with_max_step_retries(retries)
            .with_retry_backoff_ms(retry_initial, retry_max),
    )
}

/// `plans.*`: the upstream-plan backend allow-list and caps.
fn plan_policy(get: &impl Fn(&str) -> Option<String>) -> Result<PlanPolicy, SettingsError> {
    use crate::stream::plan::{
        DEFAULT_BETWEEN_BYTES_TIMEOUT_MS, DEFAULT_FIRST_BYTE_TIMEOUT_MS, DEFAULT_MAX_PLAN_BYTES,
        DEFAULT_MAX_RECORD_BYTES,
    };
    let backends = match get("plans.upstream_backends") {
        None => Vec::new(),
        Some(v) => list(&v)
            .map(|name| {
                let ok = name.len() <= 255
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if ok {
                    Ok(name.to_owned())
                } else {
                    Err(SettingsError {
                        key: "plans.upstream_backends",
                        problem: "must be a comma-separated list of backend names",
                    })
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let positive = |key: &'static str, default: u64| -> Result<u64, SettingsError> {
        let v = get(key).map_or(Ok(default), |v| parse_num(&v, key))?;
        if v == 0 {
            return Err(SettingsError {
                key,
                problem: "must be at least 1",
            });
        }
        Ok(v)
    };
    let size = |key: &'static str, default: usize| -> Result<usize, SettingsError> {
        usize::try_from(positive(key, default as u64)?).map_err(|_| SettingsError {
            key,
            problem: "is too large",
        })
    };
    Ok(PlanPolicy::new(backends)
        .with_max_plan_bytes(size("plans.max_plan_bytes", DEFAULT_MAX_PLAN_BYTES)?)
        .with_max_record_bytes(size("plans.max_record_bytes", DEFAULT_MAX_RECORD_BYTES)?)
        .with_first_byte_timeout_ms(positive(
            "plans.first_byte_timeout_ms",
            DEFAULT_FIRST_BYTE_TIMEOUT_MS,
        )?)
        .with_between_bytes_timeout_ms(positive(
            "plans.between_bytes_timeout_ms",
            DEFAULT_BETWEEN_BYTES_TIMEOUT_MS,
        )?))
}

// ---------------------------------------------------------------------------
// Edge cache (`cache.*` keys). Kept in one block, apart from the other keys.
// ---------------------------------------------------------------------------

/// Fastly's per-object limit for Compute caches (100 MB): `cache.max_object_bytes`
/// may not exceed it.
pub const CACHE_MAX_OBJECT_BYTES_LIMIT: u64 = 100_000_000;

/// Settings of the edge cache of rewritten responses (docs/CONFIG.md,
/// "Edge cache").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// `cache.enabled`: look up and store rewritten responses at all.
    pub enabled: bool,
    /// `cache.default_ttl_s`: freshness given to a storable response that
    /// carries no freshness information. 0 (the default) means such
    /// responses are not stored: guessing a lifetime for a publisher's HTML
    /// would serve stale pages the origin never agreed to.
    pub default_ttl_s: u64,
    /// `cache.max_ttl_s`: the longest sluice keeps an object, whatever the
    /// origin says; bounds the damage of a forgotten purge. Also caps the
    /// stale windows.
    pub max_ttl_s: u64,
    /// `cache.max_object_bytes`: larger rewritten bodies stream uncached.
    pub max_object_bytes: u64,
    /// `cache.hit_for_pass_s`: lifetime of the marker stored for a response
    /// that may not be stored, so concurrent and later requests pass at once
    /// instead of queueing behind one another. 0 disables markers.
    pub hit_for_pass_s: u64,
    /// `cache.vary_headers`: request headers a response may `Vary` on and
    /// still be stored (lower-case). Every lookup carries their normalised
    /// values; a response varying on any other header is not stored.
    pub vary_headers: Vec<String>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            default_ttl_s: 0,
            max_ttl_s: 86_400,
            max_object_bytes: 32 * 1024 * 1024,
            hit_for_pass_s: 60,
            vary_headers: ["accept", "accept-language", "origin"]
                .map(str::to_owned)
                .to_vec(),
        }
    }
}

/// Request headers that may never be varied on: their values are
/// credentials, and a vary rule stores the first requester's values with
/// the object.
const CACHE_VARY_FORBIDDEN: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// `cache.*`: every [`CacheSettings`] field, each optional.
fn cache_settings(get: &impl Fn(&str) -> Option<String>) -> Result<CacheSettings, SettingsError> {
    let mut c = CacheSettings::default();
    if let Some(v) = get("cache.enabled") {
        c.enabled = match v.trim() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(SettingsError {
                    key: "cache.enabled",
                    problem: "must be true or false",
                })
            }
        };
    }
    if let Some(v) = get("cache.default_ttl_s") {
        c.default_ttl_s = parse_num(&v, "cache.default_ttl_s")?;
    }
    if let Some(v) = get("cache.max_ttl_s") {
        c.max_ttl_s = parse_num(&v, "cache.max_ttl_s")?;
        if c.max_ttl_s == 0 {
            return Err(SettingsError {
                key: "cache.max_ttl_s",
                problem: "must be at least 1 (use cache.enabled = false to turn the cache off)",
            });
        }
    }
    if let Some(v) = get("cache.max_object_bytes") {
        c.max_object_bytes = parse_num(&v, "cache.max_object_bytes")?;
        if c.max_object_bytes == 0 || c.max_object_bytes > CACHE_MAX_OBJECT_BYTES_LIMIT {
            return Err(SettingsError {
                key: "cache.max_object_bytes",
                problem: "must be 1..=100000000 (Fastly's per-object limit)",
            });
        }
    }
    if let Some(v) = get("cache.hit_for_pass_s") {
        c.hit_for_pass_s = parse_num(&v, "cache.hit_for_pass_s")?;
    }
    if let Some(v) = get("cache.vary_headers") {
        let mut names = Vec::new();
        for name in list(&v) {
            let name = name.to_ascii_lowercase();
            let token = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(SettingsError {
                    key: "cache.vary_headers",
                    problem: "must be a comma-separated list of header names",
                });
            }
            if CACHE_VARY_FORBIDDEN.contains(&name.as_str()) {
                return Err(SettingsError {
                    key: "cache.vary_headers",
                    problem: "may not name authorization, cookie or proxy-authorization",
                });
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if names.len() > 8 {
            return Err(SettingsError {
                key: "cache.vary_headers",
                problem: "may name at most 8 headers",
            });
        }
        c.vary_headers = names;
    }
    Ok(c)
}

#[cfg(test)]
mod cache_settings_tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<CacheSettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned()).map(|s| s.cache)
    }

    #[test]
    fn defaults_are_documented_values() {
        let c = parse(&[]).unwrap();
        assert!(c.enabled);
        assert_eq!(c.default_ttl_s, 0);
        assert_eq!(c.max_ttl_s, 86_400);
        assert_eq!(c.max_object_bytes, 33_554_432);
        assert_eq!(c.hit_for_pass_s, 60);
        assert_eq!(c.vary_headers, ["accept", "accept-language", "origin"]);
    }

    #[test]
    fn values_parse() {
        let c = parse(&[
            ("cache.enabled", "false"),
            ("cache.default_ttl_s", "300"),
            ("cache.max_ttl_s", "3600"),
            ("cache.max_object_bytes", "100000000"),
            ("cache.hit_for_pass_s", "0"),
            (
                "cache.vary_headers",
                " Accept-Language, X-Device ,accept-language,",
            ),
        ])
        .unwrap();
        assert!(!c.enabled);
        assert_eq!(c.default_ttl_s, 300);
        assert_eq!(c.max_ttl_s, 3600);
        assert_eq!(c.max_object_bytes, 100_000_000);
        assert_eq!(c.hit_for_pass_s, 0);
        assert_eq!(c.vary_headers, ["accept-language", "x-device"]);
        let empty = parse(&[("cache.vary_headers", "")]).unwrap();
        assert!(empty.vary_headers.is_empty());
    }

    #[test]
    fn bad_values_name_the_key_and_never_echo_the_value() {
        for (key, value) in [
            ("cache.enabled", "yes"),
            ("cache.enabled", "1"),
            ("cache.default_ttl_s", "-1"),
            ("cache.default_ttl_s", "5m"),
            ("cache.max_ttl_s", "0"),
            ("cache.max_object_bytes", "0"),
            ("cache.max_object_bytes", "100000001"),
            ("cache.max_object_bytes", "lots"),
            ("cache.hit_for_pass_s", "1.5"),
            ("cache.vary_headers", "accept language"),
            ("cache.vary_headers", "Cookie"),
            ("cache.vary_headers", "Authorization"),
            ("cache.vary_headers", "a,b,c,d,e,f,g,h,i"),
        ] {
            let err = parse(&[(key, value)]).unwrap_err();
            assert_eq!(err.key, key, "{value}");
            // Short values ("0") may appear in the limits the message states.
            if value.len() > 3 {
                assert!(!err.to_string().contains(value), "{err}");
            }
        }
    }
}

fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_hosts(v: &str) -> Result<Vec<String>, SettingsError> {
    list(v)
        .map(|h| {
            let ok = h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
            if ok && !h.starts_with('.') {
                Ok(h.to_ascii_lowercase())
            } else {
                Err(SettingsError {
                    key: "publisher.rewrite_hosts",
                    problem: "must be a comma-separated list of hostnames",
                })
            }
        })
        .collect()
}

fn parse_num<T: std::str::FromStr>(v: &str, key: &'static str) -> Result<T, SettingsError> {
    v.trim().parse().map_err(|_| SettingsError {
        key,
        problem: "must be a non-negative integer",
    })
}

fn parse_optional_num(v: &str, key: &'static str) -> Result<Option<u64>, SettingsError> {
    match v.trim() {
        "" | "unlimited" => Ok(None),
        other => parse_num(other, key).map(Some),
    }
}

/// Log verbosity (`log_level`): the operator's word for a
/// `log::LevelFilter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default: one access line per request plus warnings.
    Info,
    /// Per-step detail.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for log::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Off => Self::Off,
            LogLevel::Error => Self::Error,
            LogLevel::Warn => Self::Warn,
            LogLevel::Info => Self::Info,
            LogLevel::Debug => Self::Debug,
            LogLevel::Trace => Self::Trace,
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "off" => LogLevel::Off,
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return Err(()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn empty_store_gives_documented_defaults() {
        let s = parse(&[]).unwrap();
        assert!(s.rewrite_hosts.is_empty());
        assert_eq!(s.log_level, LogLevel::Info);
        assert_eq!(s.buffer_max_bytes, 16 * 1024 * 1024);
        assert_eq!(s.buffer_max_ms, 1000);
        assert_eq!(s.output_encoding, OutputEncoding::IdentityWithHint);
        assert_eq!(s.upload_max_bytes, None);
    }

    #[test]
    fn values_parse_and_hosts_are_normalised() {
        let s = parse(&[
            (
                "publisher.rewrite_hosts",
                " WWW.Origin.Example, cdn.example:8443 ,",
            ),
            ("log.level", "debug"),
            ("publisher.buffered_paths", "/etag/, /static"),
            ("publisher.output_encoding", "origin"),
            ("upload.max_bytes", "1048576"),
        ])
        .unwrap();
        assert_eq!(s.rewrite_hosts, ["www.origin.example", "cdn.example:8443"]);
        assert_eq!(s.log_level, LogLevel::Debug);
        assert!(s.wants_buffering("/etag/page.html"));
        assert!(!s.wants_buffering("/other"));
        assert_eq!(s.output_encoding, OutputEncoding::Origin);
        assert_eq!(s.upload_max_bytes, Some(1_048_576));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("publisher.rewrite_hosts", "https://origin.example/"),
            ("log.level", "loud"),
            ("publisher.buffered_paths", "etag"),
            ("publisher.buffer_max_bytes", "-1"),
            ("publisher.buffer_max_ms", "1s"),
            ("publisher.output_encoding", "zstd"),
            ("publisher.gzip_level", "10"),
            ("publisher.gzip_level", "fast"),
            ("publisher.brotli_quality", "12"),
            ("upload.max_bytes", "ten"),
            ("ai.prefix", "v1"),
            ("ai.max_attempts", "0"),
            ("ai.relay_floor", "maybe"),
            ("dispatch.max_steps", "0"),
            ("dispatch.step_timeout_ms", "soon"),
            ("dispatch.max_state_bytes", "-5"),
            ("dispatch.idle_backoff_max_ms", "10"),
            ("dispatch.retry_backoff_max_ms", "1"),
            ("dispatch.max_step_retries", "99999999999"),
            ("plans.upstream_backends", "http://169.254.169.254/"),
            ("plans.max_record_bytes", "0"),
            ("plans.first_byte_timeout_ms", "1s"),
            ("publisher.cpu_budget_ms", "-1"),
            ("publisher.cpu_budget_ms", "40ms"),
            ("publisher.synthetic_id", "yes"),
            ("pipeline.max_brotli_window_bytes", "512"),
            ("pipeline.max_brotli_window_bytes", "33554432"),
        ] {
            let err = parse(&[(key, value)]).unwrap_err();
            assert_eq!(err.key, key);
            assert!(!err.to_string().contains(value), "{err}");
        }
    }

    #[test]
    fn stream_keys_default_to_the_documented_limits() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.dispatch_limits, DispatchLimits::default());
        assert!(
            !s.plan_policy.allows("ollama"),
            "no backend until configured"
        );
        assert!(!s.plan_policy.allows("origin"));
        assert_eq!(s.plan_policy.max_plan_bytes(), 64 * 1024);
    }

    #[test]
    fn stream_keys_parse() {
        let s = parse(&[
            ("dispatch.max_steps", "5"),
            ("dispatch.step_timeout_ms", "300"),
            ("dispatch.max_duration_ms", "1000"),
            ("dispatch.max_state_bytes", "200"),
            ("dispatch.max_message_bytes", "4096"),
            ("dispatch.idle_backoff_initial_ms", "10"),
            ("dispatch.idle_backoff_max_ms", "40"),
            ("dispatch.keepalive_interval_ms", "0"),
            ("dispatch.max_step_retries", "3"),
            ("dispatch.retry_backoff_initial_ms", "20"),
            ("dispatch.retry_backoff_max_ms", "20"),
            ("plans.upstream_backends", "ollama, openai_1,"),
            ("plans.max_plan_bytes", "1024"),
        ])
        .unwrap();
        let expected = DispatchLimits::default()
            .with_max_steps(5)
            .with_step_timeout_ms(300)
            .with_max_duration_ms(1000)
            .with_max_state_bytes(200)
            .with_max_message_bytes(4096)
            .with_idle_backoff_ms(10, 40)
            .with_keepalive_interval_ms(0)
            .with_max_step_retries(3)
            .with_retry_backoff_ms(20, 20);
        assert_eq!(s.dispatch_limits, expected);
        assert!(s.plan_policy.allows("ollama"));
        assert!(s.plan_policy.allows("openai_1"));
        assert!(!s.plan_policy.allows("llm"));
        assert!(!s.plan_policy.allows(""));
        assert_eq!(s.plan_policy.max_plan_bytes(), 1024);
    }

    #[test]
    fn budget_identity_and_window_keys_default_and_parse() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.cpu_budget_ms, 40);
        assert_eq!(s.synthetic_id, SyntheticIdMode::Auto);
        assert_eq!(s.max_brotli_window_bytes, 4 << 20);
        let s = parse(&[
            ("publisher.cpu_budget_ms", " 0 "),
            ("publisher.synthetic_id", "off"),
            ("pipeline.max_brotli_window_bytes", "16777216"),
        ])
        .unwrap();
        assert_eq!(s.cpu_budget_ms, 0, "0 turns the budget off");
        assert_eq!(s.synthetic_id, SyntheticIdMode::Off);
        assert_eq!(s.max_brotli_window_bytes, 16 << 20);
        for (value, mode) in [
            ("auto", SyntheticIdMode::Auto),
            ("on", SyntheticIdMode::On),
            ("off", SyntheticIdMode::Off),
        ] {
            let s = parse(&[("publisher.synthetic_id", value)]).unwrap();
            assert_eq!(s.synthetic_id, mode);
            assert_eq!(mode.as_str(), value);
        }
        let s = parse(&[
            ("publisher.cpu_budget_ms", "12"),
            ("pipeline.max_brotli_window_bytes", "1024"),
        ])
        .unwrap();
        assert_eq!((s.cpu_budget_ms, s.max_brotli_window_bytes), (12, 1024));
    }

    #[test]
    fn synthetic_id_mode_resolves_against_the_secret() {
        let key = b"a-key-of-at-least-16-bytes";
        let short = b"too-short";
        assert_eq!(crate::http::synthetic_id::MIN_KEY_LEN, 16);
        // auto: on with a key, off without; a short key is still an error.
        let signer = SyntheticIdMode::Auto.resolve(Some(key)).unwrap().unwrap();
        let value = signer.issue([7; 16]);
        assert!(signer.verify(&value).is_some());
        assert!(SyntheticIdMode::Auto.resolve(None).unwrap().is_none());
        let err = SyntheticIdMode::Auto.resolve(Some(short)).unwrap_err();
        assert_eq!(err.key, "synthetic_id_key");
        // on: a missing or short key is a configuration error naming it.
        assert!(SyntheticIdMode::On.resolve(Some(key)).unwrap().is_some());
        let missing = SyntheticIdMode::On.resolve(None).unwrap_err();
        assert_eq!(missing.key, "synthetic_id_key");
        assert!(missing.to_string().contains("missing"), "{missing}");
        let short_err = SyntheticIdMode::On.resolve(Some(short)).unwrap_err();
        assert_eq!(short_err.key, "synthetic_id_key");
        assert!(
            !short_err.to_string().contains("too-short"),
            "never echoes the key"
        );
        // off: never on, whatever the store holds, and the key is not needed.
        assert!(SyntheticIdMode::Off.resolve(Some(key)).unwrap().is_none());
        assert!(SyntheticIdMode::Off.resolve(None).unwrap().is_none());
        assert!(!SyntheticIdMode::Off.needs_key());
        assert!(SyntheticIdMode::Auto.needs_key() && SyntheticIdMode::On.needs_key());
    }
}
