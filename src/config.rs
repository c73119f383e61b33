//! Loads [`Settings`] from the Config Store `sluice`.
//!
//! Parsing and validation live in `sluice_core::settings` (tested
//! natively); this module only binds the store.

use fastly::ConfigStore;
pub use sluice_core::settings::{LogLevel, OutputEncoding, Settings, SettingsError};

/// The Config Store name bound in `fastly.toml`.
pub const STORE: &str = "sluice";

/// Loads settings. A missing store means "all defaults" (a first deploy);
/// a bad value is an error naming the key.
pub fn load() -> Result<Settings, SettingsError> {
    let store = ConfigStore::try_open(STORE).ok();
    Settings::from_lookup(|key| store.as_ref().and_then(|s| s.try_get(key).ok().flatten()))
}

/// Maps the core's level onto `log`'s.
pub fn log_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Off => log::LevelFilter::Off,
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    }
}
