//! Secret Store access. Secrets are read per request, never logged, never
//! echoed, and their absence is a configuration error rather than a panic.

use fastly::SecretStore;

/// The Secret Store name bound in `fastly.toml`.
pub const SECRETS: &str = "sluice_secrets";

/// Reads one secret's plaintext, or `None` when the store or key is missing.
pub fn secret(name: &str) -> Option<Vec<u8>> {
    let store = SecretStore::open(SECRETS).ok()?;
    let secret = store.try_get(name).ok()??;
    secret.try_plaintext().ok().map(|b| b.to_vec())
}
