//! Deterministic token streams of the mock LLM (`/v1/*`) and the
//! Ollama-style NDJSON generator (`/api/chat`, `/api/generate`).

/// Default number of content events in a mock OpenAI stream.
pub const DEFAULT_LLM_EVENTS: u32 = 18;
/// Default delay between mock OpenAI stream events, in milliseconds.
pub const DEFAULT_LLM_DELAY_MS: u64 = 50;
/// Default delay between Ollama NDJSON records, in milliseconds.
pub const DEFAULT_NDJSON_DELAY_MS: u64 = 20;

/// The content of event `i` of a mock OpenAI completion: `tok0`, then
/// ` tok1`, ` tok2`, ... (a space before every token but the first).
pub fn mock_llm_token(i: u32) -> String {
    if i == 0 {
        "tok0".to_owned()
    } else {
        format!(" tok{i}")
    }
}

/// The full content of a mock completion with `events` events:
/// `"tok0 tok1 ... tok{events-1}"` (empty for 0 events). A client that
/// concatenates every delta must get exactly this.
pub fn mock_llm_content(events: u32) -> String {
    (0..events).map(mock_llm_token).collect()
}

/// The tokens `/api/chat` and `/api/generate` stream when the request does
/// not override them; concatenated they read
/// `"The quick brown fox jumps over the lazy dog."`.
pub fn ollama_default_tokens() -> Vec<String> {
    [
        "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenation_is_documented_form() {
        assert_eq!(mock_llm_content(0), "");
        assert_eq!(mock_llm_content(3), "tok0 tok1 tok2");
        assert_eq!(
            mock_llm_content(DEFAULT_LLM_EVENTS),
            (0..18)
                .map(|i| format!("tok{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(
            ollama_default_tokens().concat(),
            "The quick brown fox jumps over the lazy dog."
        );
    }
}
