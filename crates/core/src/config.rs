//! Layered settings: the config file in the user's config dir, then environment variables, then flags
//! (later wins). Secrets are wrapped so `Debug` and `wacrm config show` never print them.

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

pub const DEFAULT_WEBHOOK_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_GRAPH_API_BASE: &str = "https://graph.facebook.com";
pub const DEFAULT_GRAPH_API_VERSION: &str = "v23.0";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Settings {
    /// PostgreSQL URL; unset means the embedded default cluster.
    pub database_url: Option<SecretString>,
    /// A replica for reports and analytics; unset means they read from `database_url`.
    pub read_database_url: Option<SecretString>,
    /// The business admins and cron act for (`--business`): an id or the business's e-mail.
    #[serde(default, deserialize_with = "id_or_text")]
    pub business: Option<String>,
    /// Where wacrm-webhookd listens.
    pub webhook_listen: Option<String>,
    /// The Meta app secret that signs webhook POSTs.
    pub app_secret: Option<SecretString>,
    /// The token typed into the App Dashboard for the GET verification handshake.
    pub verify_token: Option<SecretString>,
    /// When set, wacrm-webhookd's `/metrics` answers only `Authorization: Bearer <this token>`.
    pub metrics_token: Option<SecretString>,
    /// The key WhatsApp access tokens are encrypted with at rest (64 hex digits); see `secrets`.
    pub token_key: Option<SecretString>,
    /// Graph API base URL, for accounts that do not set their own (a fake in tests and demo mode).
    pub graph_api_base: Option<String>,
    pub graph_api_version: Option<String>,
    /// Price logged in usage_logs for each new 24-hour conversation window.
    pub conversation_price: Option<Decimal>,
    /// Inbound texts that mark a contact opted out of marketing (case-insensitive, whole message).
    #[serde(default, deserialize_with = "list_or_commas")]
    pub opt_out_keywords: Option<Vec<String>>,
    /// `wacrm tui` keys remapped, per dashboard (`inbox`, `contacts`, …, or `all`): the key pressed →
    /// the key it acts as, e.g. `[keys.all] "ctrl-n" = "j"`.
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// The key automation's `notify` webhooks are signed with (HMAC-SHA256 of the body).
    pub automation_webhook_secret: Option<SecretString>,
    /// An automation delay or schedule this many minutes late is dropped with a log line (default 3 days).
    pub automation_max_late_minutes: Option<i64>,
    /// Campaign messages per second per business number (1 to 1,000; Meta's default throughput is 80).
    #[serde(default, deserialize_with = "number_or_text")]
    pub broadcast_rate: Option<u32>,
    /// A campaign pauses itself when more than this share (0 to 1) of its last sends failed.
    #[serde(default, deserialize_with = "number_or_text")]
    pub broadcast_failure_share: Option<f64>,
    /// How many of a campaign's last sends that share is taken over.
    #[serde(default, deserialize_with = "number_or_text")]
    pub broadcast_failure_window: Option<i64>,
    /// Minutes a campaign send whose outcome is unknown waits for a status webhook before it is
    /// settled (sent again if Meta never confirmed it): longer risks fewer duplicates, shorter fewer delays.
    #[serde(default, deserialize_with = "number_or_text")]
    pub broadcast_reconcile_minutes: Option<i64>,
    /// Meta's rates by calling code (or `default`) over the shipped table, for the cost `broadcast plan`
    /// estimates: `[meta_prices.44] market = "United Kingdom", marketing = 0.0529, utility = …,
    /// authentication = …` (USD per delivered message; see broadcast/meta_prices.toml).
    #[serde(default)]
    pub meta_prices: std::collections::BTreeMap<String, crate::broadcast::MarketPrice>,
}

/// `business = 1` in the config file is an id, as `business = "1"` is.
fn id_or_text<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdOrText {
        Id(u64),
        Text(String),
    }
    Ok(Option::<IdOrText>::deserialize(deserializer)?.map(|value| match value {
        IdOrText::Id(id) => id.to_string(),
        IdOrText::Text(text) => text,
    }))
}

/// A TOML number, or the text a `WACRM_*` variable holds.
fn number_or_text<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText<T> {
        Number(T),
        Text(String),
    }
    match Option::<NumberOrText<T>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(NumberOrText::Number(n)) => Ok(Some(n)),
        Some(NumberOrText::Text(text)) => text.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// A TOML list, or the comma-separated form `wacrm config show` prints and an environment variable holds.
fn list_or_commas<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCommas {
        List(Vec<String>),
        Commas(String),
    }
    Ok(Option::<ListOrCommas>::deserialize(deserializer)?.map(|value| match value {
        ListOrCommas::List(list) => list,
        ListOrCommas::Commas(text) => {
            text.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect()
        }
    }))
}

/// The `WACRM_*` variables as the strings they are. figment's own environment provider reads values as
/// TOML-like literals, so `WACRM_BUSINESS=1` became a number and `WACRM_APP_SECRET=007` would have
/// become 7.
fn wacrm_environment() -> Serialized<std::collections::BTreeMap<String, String>> {
    let variables = std::env::vars()
        .filter_map(|(name, value)| Some((name.strip_prefix("WACRM_")?.to_lowercase(), value)))
        .filter(|(name, _)| name != "config" && name != "data_dir")
        .collect();
    Serialized::defaults(variables)
}

/// Values given on the command line; only the ones set override the lower layers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<String>,
}

impl Settings {
    /// The config file: `$WACRM_CONFIG`, else `<config dir>/wacrm/config.toml`.
    pub fn file_path() -> Option<PathBuf> {
        std::env::var_os("WACRM_CONFIG")
            .map(PathBuf::from)
            .or_else(|| dirs::config_dir().map(|d| d.join("wacrm").join("config.toml")))
    }

    /// Makes `business` (an id or e-mail) the acting business in the config file, created if missing.
    /// The line goes first: a top-level key after a `[table]` header would belong to that table.
    pub fn save_default_business(business: &str) -> Result<PathBuf> {
        let path = Settings::file_path().ok_or_else(|| {
            Error::invalid("there is no config directory to keep the default business in", "set WACRM_CONFIG")
        })?;
        let writing = |e| Error::io(format!("writing {}", path.display()), e);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(writing)?;
        }
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(writing(e)),
        };
        // A JSON string is a TOML basic string (the same quotes and escapes).
        let line = format!("business = {}\n", serde_json::Value::from(business));
        std::fs::write(&path, line + &existing).map_err(writing)?;
        Ok(path)
    }

    /// File, then `DATABASE_URL`, then `WACRM_*` variables, then flags.
    pub fn load(overrides: &Overrides) -> Result<Settings> {
        let mut figment = Figment::new();
        if let Some(path) = Settings::file_path() {
            figment = figment.merge(Toml::file(path));
        }
        figment
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database_url".into()))
            .merge(wacrm_environment())
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| {
                Error::invalid(
                    format!("the configuration is not valid: {e}"),
                    format!(
                        "fix the setting named above in {} or in the WACRM_* environment",
                        Settings::file_path()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "the config file".into())
                    ),
                )
            })
    }

    pub fn webhook_listen(&self) -> &str {
        self.webhook_listen.as_deref().unwrap_or(DEFAULT_WEBHOOK_LISTEN)
    }

    pub fn graph_api_base(&self) -> &str {
        self.graph_api_base.as_deref().unwrap_or(DEFAULT_GRAPH_API_BASE)
    }

    pub fn graph_api_version(&self) -> &str {
        self.graph_api_version.as_deref().unwrap_or(DEFAULT_GRAPH_API_VERSION)
    }

    pub fn conversation_price(&self) -> Decimal {
        self.conversation_price.unwrap_or_else(|| Decimal::new(5, 2))
    }

    pub fn opt_out_keywords(&self) -> Vec<String> {
        self.opt_out_keywords.clone().unwrap_or_else(|| vec!["STOP".into(), "UNSUBSCRIBE".into()])
    }

    pub fn broadcast_rate(&self) -> u32 {
        self.broadcast_rate.unwrap_or(crate::whatsapp::pacing::DEFAULT_RATE)
    }

    pub fn broadcast_failure_share(&self) -> f64 {
        self.broadcast_failure_share.unwrap_or(0.5).clamp(0.0, 1.0)
    }

    pub fn broadcast_failure_window(&self) -> i64 {
        self.broadcast_failure_window.unwrap_or(100).max(1)
    }

    pub fn broadcast_reconcile_minutes(&self) -> i64 {
        self.broadcast_reconcile_minutes.unwrap_or(10).max(1)
    }

    /// Every effective setting as (name, value) with secrets masked, for `wacrm config show`.
    pub fn masked(&self) -> Vec<(&'static str, String)> {
        fn secret(value: &Option<SecretString>) -> String {
            match value {
                Some(s) if !s.expose_secret().is_empty() => "******".into(),
                _ => "(not set)".into(),
            }
        }
        fn plain(value: Option<&str>, default: &str) -> String {
            value.map(str::to_string).unwrap_or_else(|| default.to_string())
        }
        vec![
            ("config_file", Settings::file_path().map(|p| p.display().to_string()).unwrap_or_default()),
            (
                "database_url",
                match &self.database_url {
                    Some(url) => mask_url_password(url.expose_secret()),
                    None => "(embedded default cluster)".into(),
                },
            ),
            (
                "read_database_url",
                match &self.read_database_url {
                    Some(url) if !url.expose_secret().trim().is_empty() => mask_url_password(url.expose_secret()),
                    _ => "(the main database)".into(),
                },
            ),
            ("business", plain(self.business.as_deref(), "(not set)")),
            ("webhook_listen", self.webhook_listen().to_string()),
            ("app_secret", secret(&self.app_secret)),
            ("verify_token", secret(&self.verify_token)),
            ("metrics_token", secret(&self.metrics_token)),
            ("token_key", secret(&self.token_key)),
            ("graph_api_base", self.graph_api_base().to_string()),
            ("graph_api_version", self.graph_api_version().to_string()),
            ("conversation_price", self.conversation_price().to_string()),
            ("opt_out_keywords", self.opt_out_keywords().join(",")),
            (
                "keys",
                self.keys
                    .iter()
                    .flat_map(|(pane, map)| map.iter().map(move |(from, to)| format!("{pane}:{from}={to}")))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("broadcast_rate", self.broadcast_rate().to_string()),
            ("broadcast_failure_share", self.broadcast_failure_share().to_string()),
            ("broadcast_failure_window", self.broadcast_failure_window().to_string()),
            ("broadcast_reconcile_minutes", self.broadcast_reconcile_minutes().to_string()),
            (
                "meta_prices",
                if self.meta_prices.is_empty() {
                    "(the shipped table)".into()
                } else {
                    format!(
                        "the shipped table, with {}",
                        self.meta_prices.keys().cloned().collect::<Vec<_>>().join(",")
                    )
                },
            ),
        ]
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:******@host/db`.
pub fn mask_url_password(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((credentials, host)) = rest.split_once('@')
        && let Some((user, _)) = credentials.split_once(':')
    {
        return format!("{scheme}://{user}:******@{host}");
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(mask_url_password("postgres://u:pw@h:5432/d"), "postgres://u:******@h:5432/d");
        assert_eq!(mask_url_password("postgres:///d?host=/tmp"), "postgres:///d?host=/tmp");
    }

    // figment's Jail fixes the closure's error type to figment::Error, which is large; nothing to shrink.
    #[allow(clippy::result_large_err)]
    #[test]
    fn flags_override_lower_layers() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "business = \"file@example.com\"\nwebhook_listen = \"0.0.0.0:1\"")?;
            jail.set_env("WACRM_CONFIG", "c.toml");
            jail.set_env("WACRM_WEBHOOK_LISTEN", "127.0.0.1:9");
            let settings =
                Settings::load(&Overrides { business: Some("flag@example.com".into()), ..Default::default() }).unwrap();
            assert_eq!(settings.business.as_deref(), Some("flag@example.com"));
            assert_eq!(settings.webhook_listen(), "127.0.0.1:9");
            Ok(())
        });
    }

    #[allow(clippy::result_large_err)]
    #[test]
    fn values_that_look_like_numbers_stay_text_and_keyword_lists_take_commas() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "business = 7\nopt_out_keywords = [\"STOP\", \"END\"]")?;
            jail.create_file(
                "prices.toml",
                "[meta_prices.44]\nmarket = \"UK\"\nmarketing = 0.04\nutility = 0.01\nauthentication = \"0.02\"",
            )?;
            jail.set_env("WACRM_CONFIG", "prices.toml");
            let priced = Settings::load(&Overrides::default()).unwrap();
            let table = crate::broadcast::PriceTable::from_settings(&priced).unwrap();
            assert_eq!(table.market("+447946000001").1.marketing, Decimal::new(4, 2));
            assert_eq!(table.market("+447946000001").1.authentication, Decimal::new(2, 2));
            assert_eq!(table.market("+5511987654321").1.market, "Brazil", "the shipped table under it");

            jail.set_env("WACRM_CONFIG", "c.toml");
            let from_file = Settings::load(&Overrides::default()).unwrap();
            assert_eq!(from_file.business.as_deref(), Some("7"));
            assert_eq!(from_file.broadcast_reconcile_minutes(), 10, "the default window");
            assert_eq!(from_file.opt_out_keywords(), ["STOP", "END"]);

            jail.set_env("WACRM_BUSINESS", "1");
            jail.set_env("WACRM_APP_SECRET", "007");
            jail.set_env("WACRM_GRAPH_API_VERSION", "23");
            jail.set_env("WACRM_OPT_OUT_KEYWORDS", "STOP, QUIT");
            jail.set_env("WACRM_CONVERSATION_PRICE", "0.07");
            jail.set_env("WACRM_METRICS_TOKEN", "0042");
            jail.set_env("WACRM_BROADCAST_RECONCILE_MINUTES", "30");
            let settings = Settings::load(&Overrides::default()).unwrap();
            assert_eq!(settings.broadcast_reconcile_minutes(), 30);
            let options = crate::broadcast::TickOptions::from_settings(&settings).unwrap();
            assert_eq!(options.reconcile_after, chrono::Duration::minutes(30));
            assert_eq!(settings.business.as_deref(), Some("1"));
            assert_eq!(settings.app_secret.as_ref().map(|s| s.expose_secret().to_string()).as_deref(), Some("007"));
            assert_eq!(settings.graph_api_version(), "23");
            assert_eq!(settings.opt_out_keywords(), ["STOP", "QUIT"]);
            assert_eq!(settings.conversation_price(), Decimal::new(7, 2));
            assert_eq!(settings.metrics_token.as_ref().map(|s| s.expose_secret().to_string()).as_deref(), Some("0042"));
            assert!(settings.masked().contains(&("metrics_token", "******".to_string())));
            Ok(())
        });
    }
}
