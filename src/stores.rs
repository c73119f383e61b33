//! The Config Store `sluice` and the Secret Store `sluice_secrets`.
//!
//! Parsing and validation live in `sluice_core::settings` (tested
//! natively); this module only binds the stores. Secrets are read per
//! request, never logged, never echoed, and their absence is the caller's
//! decision (a configuration error, or a feature switched off), never a
//! panic.

use fastly::{ConfigStore, SecretStore};
use sluice_core::settings::{Settings, SettingsError};

/// The Config Store name bound in `fastly.toml`.
pub const CONFIG: &str = "sluice";
/// The Secret Store name bound in `fastly.toml`.
pub const SECRETS: &str = "sluice_secrets";

/// Loads settings. A missing store means "all defaults" (a first deploy);
/// a bad value is an error naming the key.
pub fn load_settings() -> Result<Settings, SettingsError> {
    let store = ConfigStore::try_open(CONFIG).ok();
    Settings::from_lookup(|key| store.as_ref().and_then(|s| s.try_get(key).ok().flatten()))
}

/// Reads one secret's plaintext, or `None` when the store or key is
/// missing.
pub fn secret(name: &str) -> Option<Vec<u8>> {
    let store = SecretStore::open(SECRETS).ok()?;
    let secret = store.try_get(name).ok()??;
    secret.try_plaintext().ok().map(|b| b.to_vec())
}

/// A text secret (a key, a digest list) parsed by `parse`, or `None` when
/// it is missing or malformed
/// (logged, never echoed): a feature whose secret is broken rejects
/// everyone rather than failing open.
pub fn parsed_secret<T, E: std::fmt::Display>(
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    let text = String::from_utf8(secret(name)?).ok()?;
    parse(&text)
        .map_err(|e| log::error!("secret {name} is malformed: {e}"))
        .ok()
}
