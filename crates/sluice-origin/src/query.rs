//! Typed access to a request's query string.

use crate::error::RouteError;
use std::str::FromStr;

/// A decoded query string (`application/x-www-form-urlencoded`), keeping
/// repeated keys in order.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes the raw query (without `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Self { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present with a truthy value (`1`, `true`, `yes`, or
    /// empty as in `?chunked`).
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("" | "1" | "true" | "yes"))
    }

    /// Parses `key` as `T`; absent is `Ok(None)`, unparsable is a 400.
    pub fn parse_opt<T: FromStr>(&self, key: &str) -> Result<Option<T>, RouteError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| RouteError::bad(format!("query parameter {key}={v:?} is not valid"))),
        }
    }

    /// Parses `key` as a number no larger than `max`; absent is `default`.
    pub fn u64_in(&self, key: &str, default: u64, max: u64) -> Result<u64, RouteError> {
        let v = self.parse_opt::<u64>(key)?.unwrap_or(default);
        if v > max {
            return Err(RouteError::bad(format!(
                "query parameter {key}={v} exceeds {max}"
            )));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_repeats_flags_and_typed_values() {
        let q = Query::parse(Some("h=A%3A1&h=B:2&chunked&n=12&bad=x&t=%5B%22a%22%5D"));
        assert_eq!(q.all("h").collect::<Vec<_>>(), ["A:1", "B:2"]);
        assert!(q.flag("chunked"));
        assert!(!q.flag("missing"));
        assert_eq!(q.parse_opt::<u64>("n").unwrap(), Some(12));
        assert!(q.parse_opt::<u64>("bad").is_err());
        assert!(q.u64_in("n", 0, 5).is_err());
        assert_eq!(q.u64_in("zz", 7, 10).unwrap(), 7);
        assert_eq!(q.get("t"), Some("[\"a\"]"));
    }
}
