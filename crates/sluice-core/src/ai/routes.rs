//! Which gateway route a request targets.
//!
//! WHY a configurable prefix: the same service may expose the gateway at
//! `/v1` (so an OpenAI SDK's `base_url` is simply the edge's origin + `/v1`)
//! or under a sub-path next to other sluice features. Only four routes are
//! proxied; anything else under the prefix is answered at the edge with an
//! OpenAI-style 404/405 and never reaches the provider, so the gateway is not
//! an open proxy onto the provider's whole API.

use super::errors::ApiError;
use thiserror::Error;

/// The default prefix, matching OpenAI's own `/v1` paths.
pub const DEFAULT_PREFIX: &str = "/v1";

/// One proxied route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `POST {prefix}/chat/completions` (streamable).
    ChatCompletions,
    /// `POST {prefix}/completions`, the legacy text API (streamable).
    Completions,
    /// `POST {prefix}/embeddings`.
    Embeddings,
    /// `GET {prefix}/models`.
    Models,
}

impl Route {
    /// Every route, for tables and tests.
    pub const ALL: [Route; 4] = [
        Self::ChatCompletions,
        Self::Completions,
        Self::Embeddings,
        Self::Models,
    ];

    /// The path below the prefix, e.g. `/chat/completions`.
    pub fn suffix(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/chat/completions",
            Self::Completions => "/completions",
            Self::Embeddings => "/embeddings",
            Self::Models => "/models",
        }
    }

    /// The only method the route accepts (also the `Allow` value of a 405).
    pub fn method(self) -> &'static str {
        match self {
            Self::Models => "GET",
            _ => "POST",
        }
    }

    /// The provider's path for this route (OpenAI's `/v1/...`), independent
    /// of the edge prefix, so the adapter forwards `{prefix}/x` as `/v1/x`.
    pub fn upstream_path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/v1/chat/completions",
            Self::Completions => "/v1/completions",
            Self::Embeddings => "/v1/embeddings",
            Self::Models => "/v1/models",
        }
    }

    /// Whether the request has a JSON body the edge must validate.
    pub fn has_json_body(self) -> bool {
        !matches!(self, Self::Models)
    }

    /// Whether `"stream": true` turns the response into an SSE stream the
    /// edge relays (and adds `stream_options.include_usage` to).
    pub fn is_streamable(self) -> bool {
        matches!(self, Self::ChatCompletions | Self::Completions)
    }
}

/// The outcome of matching one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    /// A proxied route with the right method.
    Matched(Route),
    /// A known route with the wrong method: answer [`RouteMatch::error`]
    /// (405 with `Allow`).
    MethodNotAllowed(Route),
    /// Under the prefix but not a route: answer [`RouteMatch::error`] (404).
    NotFound,
    /// Not under the prefix at all: the gateway does not handle it and the
    /// adapter routes the request elsewhere.
    NotGateway,
}

impl RouteMatch {
    /// The error to answer for [`RouteMatch::MethodNotAllowed`] and
    /// [`RouteMatch::NotFound`]; `None` otherwise.
    pub fn error(&self) -> Option<ApiError> {
        match self {
            Self::MethodNotAllowed(route) => Some(ApiError::method_not_allowed(route.method())),
            Self::NotFound => Some(ApiError::not_found()),
            Self::Matched(_) | Self::NotGateway => None,
        }
    }
}

/// A prefix that cannot anchor gateway routes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RouteConfigError {
    /// The prefix must be empty or start with `/`.
    #[error("the gateway prefix must start with '/'")]
    NotAbsolute,
    /// Only `A-Z a-z 0-9 - . _ ~ /` are allowed, without `//`, `.` or `..`
    /// segments, so the prefix is compared byte for byte with no decoding.
    #[error("the gateway prefix contains characters or segments that are not allowed")]
    InvalidCharacters,
}

/// The route table: the prefix the four routes live under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// Normalised: empty (root) or `/seg[/seg…]` without a trailing `/`.
    prefix: String,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl Routes {
    /// The table with the default prefix `/v1`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Mounts the routes under `prefix` (e.g. `/ai/v1`; `""` or `/` for the
    /// root). A trailing `/` is ignored.
    ///
    /// ### Default
    /// `/v1` ([`DEFAULT_PREFIX`]).
    pub fn with_prefix(self, prefix: &str) -> Result<Self, RouteConfigError> {
        let trimmed = prefix.strip_suffix('/').unwrap_or(prefix);
        if !trimmed.is_empty() && !trimmed.starts_with('/') {
            return Err(RouteConfigError::NotAbsolute);
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        for segment in trimmed.split('/').skip(1) {
            if segment.is_empty()
                || segment == "."
                || segment == ".."
                || !segment.bytes().all(allowed)
            {
                return Err(RouteConfigError::InvalidCharacters);
            }
        }
        Ok(Self {
            prefix: trimmed.to_owned(),
        })
    }

    /// The normalised prefix (`""` for the root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Matches a request. `path` is the request path; a query string, if the
    /// adapter passes one, is ignored. Methods are compared exactly
    /// (RFC 9110 §9.1: they are case-sensitive).
    ///
    /// ```
    /// use sluice_core::ai::routes::{Route, RouteMatch, Routes};
    /// let routes = Routes::new();
    /// assert_eq!(routes.match_request("POST", "/v1/chat/completions"), RouteMatch::Matched(Route::ChatCompletions));
    /// assert_eq!(routes.match_request("GET", "/v1/chat/completions"), RouteMatch::MethodNotAllowed(Route::ChatCompletions));
    /// assert_eq!(routes.match_request("POST", "/v1/files"), RouteMatch::NotFound);
    /// assert_eq!(routes.match_request("GET", "/index.html"), RouteMatch::NotGateway);
    /// ```
    pub fn match_request(&self, method: &str, path: &str) -> RouteMatch {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let rest = if self.prefix.is_empty() {
            path
        } else {
            match path.strip_prefix(self.prefix.as_str()) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
                _ => return RouteMatch::NotGateway,
            }
        };
        match Route::ALL.into_iter().find(|r| r.suffix() == rest) {
            Some(route) if route.method() == method => RouteMatch::Matched(route),
            Some(route) => RouteMatch::MethodNotAllowed(route),
            None if self.prefix.is_empty() && !rest.starts_with('/') => RouteMatch::NotGateway,
            None => RouteMatch::NotFound,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_routes_match_with_their_method_under_the_default_prefix() {
        let routes = Routes::new();
        let cases = [
            ("POST", "/v1/chat/completions", Route::ChatCompletions),
            ("POST", "/v1/completions", Route::Completions),
            ("POST", "/v1/embeddings", Route::Embeddings),
            ("GET", "/v1/models", Route::Models),
        ];
        for (method, path, route) in cases {
            assert_eq!(
                routes.match_request(method, path),
                RouteMatch::Matched(route)
            );
            assert_eq!(route.upstream_path(), path);
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let routes = Routes::new();
        let m = routes.match_request("GET", "/v1/embeddings");
        assert_eq!(m, RouteMatch::MethodNotAllowed(Route::Embeddings));
        let e = m.error().unwrap();
        assert_eq!(e.status(), 405);
        assert_eq!(e.header(), Some(("allow", "POST")));
        let m = routes.match_request("POST", "/v1/models");
        assert_eq!(m.error().unwrap().header(), Some(("allow", "GET")));
        // Methods are case-sensitive.
        assert_eq!(
            routes.match_request("post", "/v1/completions"),
            RouteMatch::MethodNotAllowed(Route::Completions)
        );
    }

    #[test]
    fn unknown_paths_under_the_prefix_are_404_and_others_are_not_ours() {
        let routes = Routes::new();
        for path in [
            "/v1",
            "/v1/",
            "/v1/files",
            "/v1/chat/completions/",
            "/v1/chat",
            "/v1//chat/completions",
            "/v1/models/gpt-4o",
        ] {
            assert_eq!(
                routes.match_request("POST", path),
                RouteMatch::NotFound,
                "{path}"
            );
            assert_eq!(RouteMatch::NotFound.error().unwrap().status(), 404);
        }
        for path in ["/", "/v10/chat/completions", "/v2/models", "/x/v1/models"] {
            assert_eq!(
                routes.match_request("GET", path),
                RouteMatch::NotGateway,
                "{path}"
            );
        }
        assert_eq!(RouteMatch::NotGateway.error(), None);
    }

    #[test]
    fn query_strings_are_ignored() {
        assert_eq!(
            Routes::new().match_request("GET", "/v1/models?limit=2"),
            RouteMatch::Matched(Route::Models)
        );
    }

    #[test]
    fn custom_and_root_prefixes() {
        let routes = Routes::new().with_prefix("/ai/openai/").unwrap();
        assert_eq!(routes.prefix(), "/ai/openai");
        assert_eq!(
            routes.match_request("POST", "/ai/openai/chat/completions"),
            RouteMatch::Matched(Route::ChatCompletions)
        );
        assert_eq!(
            routes.match_request("POST", "/v1/chat/completions"),
            RouteMatch::NotGateway
        );
        assert_eq!(
            routes.match_request("POST", "/ai/openai/x"),
            RouteMatch::NotFound
        );

        let root = Routes::new().with_prefix("/").unwrap();
        assert_eq!(root.prefix(), "");
        assert_eq!(
            root.match_request("GET", "/models"),
            RouteMatch::Matched(Route::Models)
        );
        // With a root prefix every path is "under" it.
        assert_eq!(
            root.match_request("GET", "/index.html"),
            RouteMatch::NotFound
        );
    }

    #[test]
    fn bad_prefixes_are_rejected() {
        assert_eq!(
            Routes::new().with_prefix("v1"),
            Err(RouteConfigError::NotAbsolute)
        );
        for bad in ["/a//b", "/a/../b", "/./v1", "/v 1", "/v1%2f", "/v1?x"] {
            assert_eq!(
                Routes::new().with_prefix(bad),
                Err(RouteConfigError::InvalidCharacters),
                "{bad}"
            );
        }
    }
}
