//! Fault injection for the mock LLM: how a request (or the whole process)
//! should fail.

use std::fmt;
use std::str::FromStr;

/// A way for a mock LLM request to fail. Parsed from `--llm-fail`, the
/// `x-mock-fail` header, or a `mock-...` model name (without the prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LlmFail {
    /// Answer with this status (400..=599) and an OpenAI-style error body,
    /// before any stream starts: `429`, `500`, `503`, ...
    Status(u16),
    /// Kill the connection (TCP reset) before any response byte: `reset`.
    Reset,
    /// Stream this many events, then kill the connection: `reset-after-K`.
    ResetAfter(u32),
    /// Stream this many events, then an in-stream error event and a clean
    /// end without `[DONE]`: `error-after-K`.
    ErrorAfter(u32),
    /// Accept the request and never answer (until the client gives up or
    /// 10 minutes pass, then reset): `connect-hang`.
    ConnectHang,
    /// Wait before sending the headers, then answer normally:
    /// `slow-headers`.
    SlowHeaders,
}

/// An `LlmFail` spelling was not recognised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure mode {0:?}: use 429|500|503|reset|reset-after-K|error-after-K|connect-hang|slow-headers")]
pub struct UnknownFail(pub String);

impl FromStr for LlmFail {
    type Err = UnknownFail;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UnknownFail(s.to_owned());
        match s {
            "reset" => return Ok(Self::Reset),
            "connect-hang" => return Ok(Self::ConnectHang),
            "slow-headers" => return Ok(Self::SlowHeaders),
            _ => {}
        }
        if let Some(k) = s.strip_prefix("reset-after-") {
            return k.parse().map(Self::ResetAfter).map_err(|_| bad());
        }
        if let Some(k) = s.strip_prefix("error-after-") {
            return k.parse().map(Self::ErrorAfter).map_err(|_| bad());
        }
        match s.parse::<u16>() {
            Ok(code) if (400..=599).contains(&code) => Ok(Self::Status(code)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for LlmFail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(c) => write!(f, "{c}"),
            Self::Reset => f.write_str("reset"),
            Self::ResetAfter(k) => write!(f, "reset-after-{k}"),
            Self::ErrorAfter(k) => write!(f, "error-after-{k}"),
            Self::ConnectHang => f.write_str("connect-hang"),
            Self::SlowHeaders => f.write_str("slow-headers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_spelling_and_round_trips() {
        for s in [
            "429",
            "500",
            "503",
            "reset",
            "reset-after-3",
            "error-after-0",
            "connect-hang",
            "slow-headers",
        ] {
            let f: LlmFail = s.parse().unwrap();
            assert_eq!(f.to_string(), s);
        }
        assert_eq!("429".parse::<LlmFail>().unwrap(), LlmFail::Status(429));
        for bad in ["", "200", "gpt", "reset-after-x", "600"] {
            assert!(bad.parse::<LlmFail>().is_err(), "{bad}");
        }
    }
}
