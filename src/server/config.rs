//! The server's runtime settings: defaults in code, then `Leptos.toml` (or the
//! file named by `CONFAB_CONFIG`), then `LEPTOS_SITE_ADDR`/`LEPTOS_SITE_ROOT`,
//! then `CONFAB_<KEY>` environment variables, each layer winning over the last.
//!
//! Settings are read once at start-up and passed down by value; nothing here
//! is consulted on a hot path.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use ipnet::IpNet;
use leptos::config::LeptosOptions;
use serde::{Deserialize, Deserializer, Serialize};

mod rate;

pub use rate::{Rate, RateLimits};

/// A hundred years: more is a typo, and would overflow the arithmetic.
const MAX_RETENTION_DAYS: u64 = 36_500;

/// The most messages `history_on_join` may send: they travel in one frame.
pub const MAX_HISTORY_ON_JOIN: usize = 200;

/// Everything an operator can tune; see `Leptos.toml` for what each does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub site_addr: SocketAddr,
    pub site_root: String,
    pub heartbeat_interval_ms: u64,
    pub heartbeat_timeout_ms: u64,
    pub max_connections: usize,
    pub max_message_bytes: usize,
    pub send_queue_frames: usize,
    pub send_queue_bytes: usize,
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_origins: Vec<String>,
    /// The app's own origins as browsers see them (`https://chat.example.com`
    /// behind a proxy); empty: where the server listens.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub public_origins: Vec<String>,
    pub shutdown_grace_ms: u64,
    pub drain_delay_ms: u64,
    pub http_header_timeout_ms: u64,
    pub log_format: LogFormat,
    pub storage: Storage,
    pub data_dir: PathBuf,
    /// With `storage = "postgres"`: `postgres://user@host:port/database`.
    pub database_url: Option<String>,
    /// Cluster mode: the Redis that carries messages and presence between
    /// nodes sharing one PostgreSQL (`redis://host:port/`).
    pub redis_url: Option<String>,
    pub history_on_join: usize,
    pub cache_max_bytes: usize,
    pub memory_storage_max_bytes: usize,
    pub retention_max_messages: u64,
    pub retention_max_age_days: u64,
    /// How long after sending a message its author may still edit it, in
    /// seconds; 0 for ever.
    pub edit_window_secs: u64,
    pub token_secret: Option<String>,
    /// How long an account's session lasts unused, in days (each
    /// connection extends it); and a guest's token.
    pub session_days: u64,
    pub guest_session_days: u64,
    /// A path (`/echo`) where a WebSocket echo endpoint runs through the
    /// same connection code as `/ws`, for conformance suites; unset, there
    /// is none.
    pub echo_path: Option<String>,
    /// Where `GET /metrics` is served instead of on `site_addr` (an
    /// address only the monitoring network reaches); unset: on `site_addr`.
    pub metrics_addr: Option<SocketAddr>,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For`
    /// names the client; empty: the peer is the client.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub trusted_proxies: Vec<String>,
    #[serde(deserialize_with = "rate::limits_or_off")]
    pub rate_limits: RateLimits,
    /// Keys for the HTTP API (`Authorization: Bearer <key>`), at least 32
    /// characters each; none: every API request is refused.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub api_keys: Vec<String>,
    /// Usernames of the server's admins: they run every room, and may ban
    /// a user from the whole server.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub admins: Vec<String>,
    /// A ban also keeps out new guest identities from the banned user's
    /// address this long, in hours (or as long as the ban, if shorter);
    /// 0: only the user is banned.
    pub ban_guest_address_hours: u64,
}

/// How the log is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One line per event, for people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Where messages and names are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    /// `<data_dir>/confab.db`: durable, the default.
    Sqlite,
    /// Nothing survives a restart: a recent window of each room in memory.
    Memory,
    /// The PostgreSQL at `database_url`, which several nodes can share.
    Postgres,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            site_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: "target/site".into(),
            heartbeat_interval_ms: 25_000,
            heartbeat_timeout_ms: 45_000,
            max_connections: 10_000,
            max_message_bytes: 64 * 1024,
            send_queue_frames: 512,
            send_queue_bytes: 4 * 1024 * 1024,
            allowed_origins: Vec::new(),
            public_origins: Vec::new(),
            shutdown_grace_ms: 3_000,
            drain_delay_ms: 5_000,
            http_header_timeout_ms: 10_000,
            log_format: LogFormat::Text,
            storage: Storage::Sqlite,
            data_dir: PathBuf::from("data"),
            database_url: None,
            redis_url: None,
            history_on_join: 50,
            cache_max_bytes: 128 * 1024 * 1024,
            memory_storage_max_bytes: 256 * 1024 * 1024,
            retention_max_messages: 0,
            retention_max_age_days: 0,
            edit_window_secs: 0,
            token_secret: None,
            session_days: 30,
            guest_session_days: 365,
            echo_path: None,
            metrics_addr: None,
            trusted_proxies: Vec::new(),
            rate_limits: RateLimits::default(),
            api_keys: Vec::new(),
            admins: Vec::new(),
            ban_guest_address_hours: 24,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid settings: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid settings: {0}")]
    Inconsistent(&'static str),
    #[error(
        "invalid settings: {0:?} is not an origin such as https://chat.example.com (scheme, host and port, nothing else)"
    )]
    NotAnOrigin(String),
    #[error(
        "invalid settings: trusted_proxies: {0:?} is neither an IP address nor a CIDR block such as 10.0.0.0/8"
    )]
    NotANetwork(String),
    #[error("invalid settings: the environment variable CONFAB_ names no setting")]
    EmptyKey,
}

impl Settings {
    /// The default file, `Leptos.toml` in the working directory, unless
    /// `CONFAB_CONFIG` names another. A missing file is not an error: the
    /// embedded defaults are a complete configuration.
    pub fn load() -> Result<Self, SettingsError> {
        let file = std::env::var("CONFAB_CONFIG").unwrap_or_else(|_| "Leptos.toml".into());
        Self::load_from(Path::new(&file))
    }

    pub fn load_from(file: &Path) -> Result<Self, SettingsError> {
        // figment skips a variable named just the prefix; an operator who
        // wrote one meant something.
        if std::env::vars_os().any(|(key, _)| key == "CONFAB_") {
            return Err(SettingsError::EmptyKey);
        }
        Self::extract(
            Figment::from(Serialized::defaults(Settings::default()))
                .merge(Toml::file(file))
                .merge(Env::prefixed("LEPTOS_").only(&["site_addr", "site_root"]))
                // `CONFAB_RATE_LIMITS__MESSAGES` sets `rate_limits.messages`.
                .merge(Env::prefixed("CONFAB_").ignore(&["config"]).split("__")),
        )
    }

    /// The settings a file with `text` gives, without the environment: what
    /// the fuzz target checks.
    pub fn from_toml(text: &str) -> Result<Self, SettingsError> {
        Self::extract(
            Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(text)),
        )
    }

    fn extract(figment: Figment) -> Result<Self, SettingsError> {
        let settings: Settings = figment.extract().map_err(Box::new)?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        if self.heartbeat_interval_ms == 0
            || self.heartbeat_timeout_ms <= self.heartbeat_interval_ms
        {
            return Err(SettingsError::Inconsistent(
                "heartbeat_timeout_ms must be greater than heartbeat_interval_ms, which must not be 0",
            ));
        }
        if self.cache_max_bytes < 1024 * 1024 || self.memory_storage_max_bytes < 1024 * 1024 {
            return Err(SettingsError::Inconsistent(
                "cache_max_bytes and memory_storage_max_bytes must be at least 1048576",
            ));
        }
        if self.http_header_timeout_ms < 100 {
            return Err(SettingsError::Inconsistent(
                "http_header_timeout_ms must be at least 100",
            ));
        }
        if self.max_connections == 0 || self.max_connections > u32::MAX as usize {
            return Err(SettingsError::Inconsistent(
                "max_connections must be 1 to 4294967295",
            ));
        }
        if self.send_queue_frames == 0 || self.send_queue_bytes < 64 * 1024 {
            return Err(SettingsError::Inconsistent(
                "send_queue_frames must not be 0 and send_queue_bytes must be at least 65536",
            ));
        }
        if self.max_message_bytes < 1024 {
            return Err(SettingsError::Inconsistent(
                "max_message_bytes must be at least 1024",
            ));
        }
        if self.retention_max_age_days > MAX_RETENTION_DAYS {
            return Err(SettingsError::Inconsistent(
                "retention_max_age_days must be at most 36500 (0 keeps messages forever)",
            ));
        }
        if self.history_on_join > MAX_HISTORY_ON_JOIN {
            return Err(SettingsError::Inconsistent(
                "history_on_join must be at most 200",
            ));
        }
        if self
            .token_secret
            .as_ref()
            .is_some_and(|secret| secret.len() < 32)
        {
            return Err(SettingsError::Inconsistent(
                "token_secret must be at least 32 characters long",
            ));
        }
        if let Some(bad) = self
            .allowed_origins
            .iter()
            .chain(&self.public_origins)
            .find(|origin| crate::server::origin::normalise(origin).is_none())
        {
            return Err(SettingsError::NotAnOrigin(bad.clone()));
        }
        match (self.storage, &self.database_url) {
            (Storage::Postgres, None) => {
                return Err(SettingsError::Inconsistent(
                    "storage = \"postgres\" needs database_url (postgres://user@host:port/database)",
                ));
            }
            (Storage::Sqlite | Storage::Memory, Some(_)) => {
                return Err(SettingsError::Inconsistent(
                    "database_url is only used with storage = \"postgres\"",
                ));
            }
            _ => {}
        }
        if self.redis_url.is_some() && self.storage != Storage::Postgres {
            return Err(SettingsError::Inconsistent(
                "redis_url (cluster mode) needs storage = \"postgres\": the nodes share their history there",
            ));
        }
        if self
            .api_keys
            .iter()
            .any(|key| key.len() < 32 || !key.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(SettingsError::Inconsistent(
                "each of api_keys must be at least 32 printable ASCII characters, without spaces",
            ));
        }
        if let Some(bad) = self
            .trusted_proxies
            .iter()
            .find(|proxy| parse_network(proxy).is_none())
        {
            return Err(SettingsError::NotANetwork(bad.clone()));
        }
        if let Some(path) = &self.echo_path {
            let taken = ["/", "/ws", "/health", "/readyz"].contains(&path.as_str())
                || path.starts_with("/r/")
                || path.starts_with("/i/")
                || path.starts_with("/pkg/");
            let valid = path.len() > 1
                && path.starts_with('/')
                && path[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
            if taken || !valid {
                return Err(SettingsError::Inconsistent(
                    "echo_path must be a path of its own such as /echo (letters, digits, -, _, ., /), not one the app serves",
                ));
            }
        }
        Ok(())
    }

    /// Messages older than this are pruned, if set.
    pub fn retention_max_age(&self) -> Option<Duration> {
        (self.retention_max_age_days > 0)
            .then(|| Duration::from_secs(self.retention_max_age_days * 24 * 60 * 60))
    }

    /// How long a ban keeps new guests from the banned user's addresses
    /// out at most, in milliseconds (0: not at all).
    pub fn guest_ban_ms(&self) -> i64 {
        i64::try_from(self.ban_guest_address_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX)
    }

    /// How long a message may be edited after it was sent, if limited.
    pub fn edit_window(&self) -> Option<Duration> {
        (self.edit_window_secs > 0).then(|| Duration::from_secs(self.edit_window_secs))
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }

    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms)
    }

    pub fn http_header_timeout(&self) -> Duration {
        Duration::from_millis(self.http_header_timeout_ms)
    }

    pub fn drain_delay(&self) -> Duration {
        Duration::from_millis(self.drain_delay_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> Vec<IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|proxy| parse_network(proxy))
            .collect()
    }

    /// What Leptos needs to render pages and serve `/pkg`.
    pub fn leptos_options(&self) -> LeptosOptions {
        LeptosOptions::builder()
            .output_name("confab")
            .site_root(self.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(self.site_addr)
            .build()
    }
}

/// `10.0.0.0/8`, or one address (`10.0.0.1`, a network of one).
fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// `["a", "b"]` from a file, or `a,b` from an environment variable.
fn list_or_comma_separated<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    Ok(match ListOrString::deserialize(deserializer)? {
        ListOrString::List(list) => list,
        ListOrString::String(text) => text
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(String::from)
            .collect(),
    })
}

#[cfg(test)]
// figment's `Jail` closures return its large error type; not ours to shrink.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn the_shipped_file_matches_the_embedded_defaults() {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("Leptos.toml");
        Jail::expect_with(|jail| {
            jail.clear_env();
            assert_eq!(Settings::load_from(&shipped).unwrap(), Settings::default());
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file_and_confab_wins_over_leptos() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "confab.toml",
                "max_connections = 7\nheartbeat_interval_ms = 100\nheartbeat_timeout_ms = 300",
            )?;
            jail.set_env("CONFAB_MAX_CONNECTIONS", "9");
            jail.set_env("LEPTOS_SITE_ADDR", "127.0.0.1:4100");
            jail.set_env(
                "CONFAB_ALLOWED_ORIGINS",
                "https://a.example, https://b.example",
            );
            let settings = Settings::load_from(Path::new("confab.toml")).unwrap();
            assert_eq!(settings.max_connections, 9);
            assert_eq!(settings.heartbeat_interval_ms, 100);
            assert_eq!(settings.site_addr, "127.0.0.1:4100".parse().unwrap());
            assert_eq!(
                settings.allowed_origins,
                ["https://a.example", "https://b.example"]
            );

            jail.set_env("CONFAB_SITE_ADDR", "127.0.0.1:4200");
            let settings = Settings::load_from(Path::new("confab.toml")).unwrap();
            assert_eq!(settings.site_addr, "127.0.0.1:4200".parse().unwrap());
            Ok(())
        });
    }

    #[test]
    fn an_origin_that_is_not_one_and_an_empty_key_are_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("CONFAB_ALLOWED_ORIGINS", "*");
            let error = Settings::load_from(Path::new("missing.toml")).unwrap_err();
            assert!(
                matches!(&error, SettingsError::NotAnOrigin(o) if o == "*"),
                "{error}"
            );
            jail.set_env("CONFAB_ALLOWED_ORIGINS", "https://ok.example");
            jail.set_env("CONFAB_PUBLIC_ORIGINS", "chat.example.com");
            let error = Settings::load_from(Path::new("missing.toml")).unwrap_err();
            assert!(matches!(error, SettingsError::NotAnOrigin(_)), "{error}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("CONFAB_", "1");
            let error = Settings::load_from(Path::new("missing.toml")).unwrap_err();
            assert!(matches!(error, SettingsError::EmptyKey), "{error}");
            Ok(())
        });
    }

    #[test]
    fn postgres_needs_its_url_and_a_cluster_needs_postgres() {
        let error = Settings::from_toml("storage = \"postgres\"").unwrap_err();
        assert!(error.to_string().contains("needs database_url"), "{error}");
        let error = Settings::from_toml("database_url = \"postgres://x@y/z\"").unwrap_err();
        assert!(error.to_string().contains("only used with"), "{error}");
        let error = Settings::from_toml("redis_url = \"redis://127.0.0.1/\"").unwrap_err();
        assert!(error.to_string().contains("cluster mode"), "{error}");
        let cluster = Settings::from_toml(
            "storage = \"postgres\"\ndatabase_url = \"postgres://x@y/z\"\nredis_url = \"redis://127.0.0.1/\"",
        )
        .unwrap();
        assert_eq!(cluster.storage, Storage::Postgres);
        assert_eq!(cluster.redis_url.as_deref(), Some("redis://127.0.0.1/"));
    }

    #[test]
    fn nonsense_is_refused_with_the_key_named() {
        Jail::expect_with(|jail| {
            jail.set_env("CONFAB_MAX_CONECTIONS", "9");
            let error = Settings::load_from(Path::new("missing.toml"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("max_conections"), "{error}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("CONFAB_RETENTION_MAX_AGE_DAYS", "200000000000");
            let error = Settings::load_from(Path::new("missing.toml"))
                .unwrap_err()
                .to_string();
            assert!(error.contains("retention_max_age_days"), "{error}");
            jail.set_env("CONFAB_RETENTION_MAX_AGE_DAYS", "0");
            jail.set_env("CONFAB_HEARTBEAT_TIMEOUT_MS", "10");
            let error = Settings::load_from(Path::new("missing.toml"))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("heartbeat_timeout_ms must be greater"),
                "{error}"
            );
            Ok(())
        });
    }
}
