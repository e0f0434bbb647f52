//! The configuration the engine runs with, as one value. The binaries
//! build it at their edge ([`Config::from_env`], from the `NUAGE_*`
//! variables) and pass it in; nothing deeper reads the environment.

use std::time::Duration;

use nuage_graph::auth::Endpoints;
use nuage_graph::session::Settings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Microsoft: endpoints and the token store.
    pub graph: Settings,
    /// How long to wait for another program's lock on a source.
    pub busy_timeout: Duration,
    /// How long one run keeps retrying Graph (throttling, outages) before
    /// uploads are left pending for the next run.
    pub retry_budget: Duration,
    /// The app registration to sign in with, when none is given.
    pub client_id: Option<String>,
    pub tenant: Option<String>,
    /// How long a file of a folder source must stay unchanged before it
    /// is backed up (a clip being recorded is not taken half-done).
    pub settle: Duration,
    /// How long one alert's delivery may take (a mail server that does not
    /// answer must not hold back backups).
    pub alert_timeout: Duration,
    /// The first pause before an alert that could not be sent is tried
    /// again (doubling each time, up to an hour).
    pub alert_retry: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            graph: Settings::default(),
            busy_timeout: Duration::from_millis(5_000),
            retry_budget: Duration::from_secs(600),
            client_id: None,
            tenant: None,
            settle: Duration::from_secs(5),
            alert_timeout: Duration::from_secs(20),
            alert_retry: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// The defaults, with the `NUAGE_*` variables of this process applied:
    /// `NUAGE_BUSY_TIMEOUT_MS`, `NUAGE_RETRY_BUDGET_SECS`, `NUAGE_CLIENT_ID`,
    /// `NUAGE_TENANT`, `NUAGE_AUTHORITY_URL`, `NUAGE_GRAPH_URL`,
    /// `NUAGE_TOKEN_STORE`, `NUAGE_SETTLE_MS`, `NUAGE_ALERT_TIMEOUT_MS`,
    /// `NUAGE_ALERT_RETRY_MS`. Only the binaries call this, once.
    pub fn from_env() -> Config {
        Config::from_vars(|k| std::env::var(k).ok())
    }

    /// [`Config::from_env`] over any source of variables (tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Config {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let d = Config::default();
        let number = |k: &str| var(k).and_then(|v| v.trim().parse::<u64>().ok());
        Config {
            graph: Settings {
                endpoints: Endpoints::with(
                    var("NUAGE_AUTHORITY_URL").as_deref(),
                    var("NUAGE_GRAPH_URL").as_deref(),
                ),
                token_store: var(nuage_graph::tokens::STORE_ENV),
            },
            busy_timeout: number("NUAGE_BUSY_TIMEOUT_MS")
                .map(Duration::from_millis)
                .unwrap_or(d.busy_timeout),
            retry_budget: number("NUAGE_RETRY_BUDGET_SECS")
                .map(Duration::from_secs)
                .unwrap_or(d.retry_budget),
            client_id: var("NUAGE_CLIENT_ID"),
            tenant: var("NUAGE_TENANT"),
            settle: number("NUAGE_SETTLE_MS")
                .map(Duration::from_millis)
                .unwrap_or(d.settle),
            alert_timeout: number("NUAGE_ALERT_TIMEOUT_MS")
                .map(Duration::from_millis)
                .unwrap_or(d.alert_timeout),
            alert_retry: number("NUAGE_ALERT_RETRY_MS")
                .map(Duration::from_millis)
                .unwrap_or(d.alert_retry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_override_defaults_and_blank_ones_do_not() {
        let c = Config::from_vars(|k| match k {
            "NUAGE_BUSY_TIMEOUT_MS" => Some("250".into()),
            "NUAGE_GRAPH_URL" => Some("http://127.0.0.1:9/v1.0/".into()),
            "NUAGE_TOKEN_STORE" => Some("file".into()),
            "NUAGE_TENANT" => Some("  ".into()),
            "NUAGE_RETRY_BUDGET_SECS" => Some("soon".into()),
            _ => None,
        });
        assert_eq!(c.busy_timeout, Duration::from_millis(250));
        assert_eq!(c.graph.endpoints.graph, "http://127.0.0.1:9/v1.0");
        assert_eq!(c.graph.endpoints.authority, Endpoints::default().authority);
        assert_eq!(c.graph.token_store.as_deref(), Some("file"));
        assert_eq!(c.tenant, None);
        assert_eq!(c.retry_budget, Config::default().retry_budget);
    }
}
