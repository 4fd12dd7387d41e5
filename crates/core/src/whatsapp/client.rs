//! The Graph API client (shared/whatsapp-cloud-api.md §4-§5): sends text and template messages and
//! read receipts for one business number, retrying only what Meta says is worth retrying.
//!
//! The send API has no idempotency key, so a retry is only safe when Meta did not take the message:
//! throttling and transient errors (it answered, and said no) and connection failures (the request never
//! left). A timeout or a garbled answer may hide an accepted message, so it is never retried; the caller
//! learns that the outcome is unknown ([`ApiError::outcome_unknown`]).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::config::Settings;
use crate::error::{Error, op};
use crate::whatsapp::send::{ErrorResponse, GraphError, MarkRead, SendRequest, SendResponse};

/// Error codes Meta asks clients to retry with backoff (§5): rate limits (4, 80007, 130429), the pair
/// rate limit (131056) and temporary service errors (131000, 131016, 2).
pub const RETRYABLE_CODES: &[i64] = &[4, 80007, 130429, 131056, 131000, 131016, 2];

/// Codes that need a change (template, content, consent, credentials) before any new attempt, even when
/// they come with a 5xx.
fn needs_a_change(code: i64) -> bool {
    matches!(code, 0 | 3 | 10 | 100 | 190 | 200..=299 | 368 | 130472 | 130497 | 131008 | 131009 | 131026
        | 131030 | 131031 | 131042 | 131047 | 131048 | 131049 | 131050 | 131051 | 131052 | 131053 | 131064
        | 132000..=132999)
}

/// Whether a failed answer is worth another attempt.
pub fn is_retryable(http_status: u16, error: Option<&GraphError>) -> bool {
    let throttled_or_down = http_status == 429 || http_status >= 500;
    match error {
        Some(e) if RETRYABLE_CODES.contains(&e.code) || e.is_transient == Some(true) => true,
        Some(e) if needs_a_change(e.code) => false,
        _ => throttled_or_down,
    }
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles, up to `max_delay`, and is jittered
    /// (half to all of it) so many senders throttled at once do not come back in step.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// How long one attempt may take before its outcome counts as unknown.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            timeout: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.max_delay);
        let nanos = u64::try_from(exp.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::random_range(nanos / 2..=nanos))
    }
}

/// Where and as whom to call for one business number. Unset base URL and version fall back to the
/// client's defaults (the configured ones).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub phone_number_id: String,
    pub token: SecretString,
    pub base_url: Option<String>,
    pub version: Option<String>,
}

/// Meta accepted the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub wamid: String,
    /// The canonical WhatsApp id of the recipient, when Meta returned one.
    pub wa_id: Option<String>,
    pub attempts: u32,
}

/// A send that did not end in an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Meta's error code; `None` when no Graph error came back (network failure, unreadable answer).
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub http_status: Option<u16>,
    /// A short title (Meta's user title, else its message).
    pub title: String,
    /// `error_data.details` or the error's user message, when given.
    pub detail: Option<String>,
    /// Whether trying again later could succeed (the attempts here were used up).
    pub retryable: bool,
    /// Meta may have accepted the message (a timeout or an unreadable answer): do not resend blindly.
    pub outcome_unknown: bool,
    pub attempts: u32,
}

impl ApiError {
    fn from_graph(http_status: u16, error: GraphError, attempts: u32) -> ApiError {
        let retryable = is_retryable(http_status, Some(&error));
        ApiError {
            code: Some(error.code),
            subcode: error.error_subcode,
            http_status: Some(http_status),
            title: error.error_user_title.filter(|t| !t.is_empty()).unwrap_or(error.message),
            detail: error.error_data.and_then(|d| d.details).or(error.error_user_msg),
            retryable,
            outcome_unknown: false,
            attempts,
        }
    }

    fn network(title: String, retryable: bool, outcome_unknown: bool, attempts: u32) -> ApiError {
        ApiError {
            code: None,
            subcode: None,
            http_status: None,
            title,
            detail: None,
            retryable,
            outcome_unknown,
            attempts,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        write!(f, " after {} attempt{}", self.attempts, if self.attempts == 1 { "" } else { "s" })
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Error {
        match e.code {
            Some(code) => Error::WhatsApp { code, message: e.to_string(), retryable: e.retryable },
            None if e.outcome_unknown => Error::WhatsAppUnreachable {
                message: format!("the WhatsApp Cloud API did not answer clearly: {e}"),
                hint: Some(
                    "the message may have been delivered; it stays pending, check the chat before sending it again"
                        .into(),
                ),
            },
            None => Error::WhatsAppUnreachable {
                message: format!("the WhatsApp Cloud API could not be reached: {e}"),
                hint: Some(format!("check the network and the account's Graph API base URL ({})", op("accounts list"))),
            },
        }
    }
}

/// A Graph API client shared by all senders (it pools connections).
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    default_base: String,
    default_version: String,
    retry: RetryPolicy,
}

impl GraphClient {
    /// A client whose defaults for accounts without their own base URL or version are the given ones.
    pub fn new(default_base: &str, default_version: &str, retry: RetryPolicy) -> GraphClient {
        GraphClient {
            http: reqwest::Client::new(),
            default_base: default_base.trim_end_matches('/').to_string(),
            default_version: default_version.to_string(),
            retry,
        }
    }

    /// A client with the configured Graph API base URL and version and the default retry policy.
    pub fn from_settings(settings: &Settings) -> GraphClient {
        GraphClient::new(settings.graph_api_base(), settings.graph_api_version(), RetryPolicy::default())
    }

    fn messages_url(&self, endpoint: &Endpoint) -> String {
        self.url(endpoint, &format!("{}/messages", endpoint.phone_number_id))
    }

    /// `{base}/{version}/{path}` with the account's base URL and version, else the client's.
    pub(crate) fn url(&self, endpoint: &Endpoint, path: &str) -> String {
        let base = endpoint.base_url.as_deref().map(|b| b.trim_end_matches('/')).unwrap_or(&self.default_base);
        let version = endpoint.version.as_deref().unwrap_or(&self.default_version);
        format!("{base}/{version}/{path}")
    }

    /// Sends one message; `Ok` means Meta accepted it (delivery is reported later by webhook).
    pub async fn send(&self, endpoint: &Endpoint, request: &SendRequest) -> Result<Accepted, ApiError> {
        let (body, attempts) = self.post(endpoint, request).await?;
        let parsed: SendResponse = serde_json::from_slice(&body).map_err(|e| {
            ApiError::network(
                format!("Meta accepted the request but its answer is unreadable: {e}"),
                false,
                true,
                attempts,
            )
        })?;
        let wamid = parsed.messages.into_iter().next().map(|m| m.id).ok_or_else(|| {
            ApiError::network("Meta accepted the request but returned no message id".into(), false, true, attempts)
        })?;
        Ok(Accepted { wamid, wa_id: parsed.contacts.into_iter().next().map(|c| c.wa_id), attempts })
    }

    /// Marks an inbound message (and every earlier one in its chat) read: the user sees blue ticks.
    pub async fn mark_read(&self, endpoint: &Endpoint, wamid: &str) -> Result<(), ApiError> {
        self.post(endpoint, &MarkRead::new(wamid)).await.map(|_| ())
    }

    /// POSTs `body` to the number's messages endpoint, retrying what is retryable; returns the success
    /// body and the number of attempts made.
    async fn post<T: Serialize>(&self, endpoint: &Endpoint, body: &T) -> Result<(Vec<u8>, u32), ApiError> {
        self.call(reqwest::Method::POST, &self.messages_url(endpoint), endpoint, Some(body)).await
    }

    /// Calls `url` with `method` (and a JSON body, if any) as the endpoint's account, retrying what is
    /// retryable; returns the success body and the number of attempts made.
    pub(crate) async fn call<T: Serialize>(
        &self,
        method: reqwest::Method,
        url: &str,
        endpoint: &Endpoint,
        body: Option<&T>,
    ) -> Result<(Vec<u8>, u32), ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(method.clone(), url, endpoint, body).await {
                Ok(ok) => return Ok((ok, attempt)),
                Err(mut failure) => {
                    failure.attempts = attempt;
                    failure
                }
            };
            if !failure.retryable || attempt >= self.retry.max_attempts {
                return Err(failure);
            }
            let wait = self.retry.delay(attempt);
            tracing::warn!(
                url,
                attempt,
                ?wait,
                code = failure.code,
                "Graph API call failed, retrying: {}",
                failure.title
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt<T: Serialize>(
        &self,
        method: reqwest::Method,
        url: &str,
        endpoint: &Endpoint,
        body: Option<&T>,
    ) -> Result<Vec<u8>, ApiError> {
        let mut request =
            self.http.request(method, url).bearer_auth(endpoint.token.expose_secret()).timeout(self.retry.timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            // A refused or failed connection never reached Meta; anything later might have.
            let unsent = e.is_connect() || e.is_builder();
            ApiError::network(format!("request to {url} failed: {e}"), e.is_connect(), !unsent, 0)
        })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| {
            ApiError::network(format!("reading the answer from {url} failed: {e}"), false, status < 300, 0)
        })?;
        if (200..300).contains(&status) {
            return Ok(bytes.to_vec());
        }
        match serde_json::from_slice::<ErrorResponse>(&bytes) {
            Ok(parsed) => Err(ApiError::from_graph(status, parsed.error, 0)),
            Err(_) => {
                let mut failure = ApiError::network(
                    format!(
                        "HTTP {status} from {url}: {}",
                        String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()
                    ),
                    is_retryable(status, None),
                    false,
                    0,
                );
                failure.http_status = Some(status);
                Err(failure)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(code: i64, transient: Option<bool>) -> GraphError {
        GraphError { code, is_transient: transient, ..GraphError::default() }
    }

    #[test]
    fn throttling_and_transient_errors_are_retried() {
        for code in RETRYABLE_CODES {
            assert!(is_retryable(400, Some(&graph(*code, None))), "code {code}");
        }
        assert!(is_retryable(429, None));
        assert!(is_retryable(503, None));
        assert!(is_retryable(400, Some(&graph(99999, Some(true)))));
    }

    #[test]
    fn errors_that_need_a_change_are_final() {
        for code in [131047, 131026, 131048, 131050, 132001, 132015, 190, 100] {
            assert!(!is_retryable(400, Some(&graph(code, None))), "code {code}");
            assert!(!is_retryable(500, Some(&graph(code, None))), "code {code} with a 5xx");
        }
        assert!(!is_retryable(400, None));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        };
        let first = policy.delay(1);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
        let third = policy.delay(3);
        assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400), "{third:?}");
        assert!(policy.delay(40) <= Duration::from_secs(1));
    }

    #[test]
    fn account_settings_override_the_defaults() {
        let client = GraphClient::new("https://graph.facebook.com/", "v23.0", RetryPolicy::default());
        let mut endpoint = Endpoint {
            phone_number_id: "106540352242922".into(),
            token: SecretString::from("t"),
            base_url: None,
            version: None,
        };
        assert_eq!(client.messages_url(&endpoint), "https://graph.facebook.com/v23.0/106540352242922/messages");
        endpoint.base_url = Some("http://127.0.0.1:9/".into());
        endpoint.version = Some("v25.0".into());
        assert_eq!(client.messages_url(&endpoint), "http://127.0.0.1:9/v25.0/106540352242922/messages");
    }

    #[test]
    fn final_graph_errors_keep_their_code() {
        let e = ApiError::from_graph(
            400,
            GraphError {
                code: 131047,
                message: "(#131047) Re-engagement message".into(),
                error_data: Some(crate::whatsapp::send::ErrorData {
                    messaging_product: None,
                    details: Some("more than 24 hours".into()),
                }),
                ..GraphError::default()
            },
            1,
        );
        match Error::from(e) {
            Error::WhatsApp { code, message, retryable } => {
                assert_eq!(code, 131047);
                assert!(!retryable);
                assert!(message.contains("more than 24 hours"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
