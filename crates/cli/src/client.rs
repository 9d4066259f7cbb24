//! The hub as the CLI's wallet, merchant and operator commands call it: a bearer token, a fresh
//! `Idempotency-Key` on every POST, and errors as people read them (`message (code)`).

use anyhow::{Context, bail};
use serde_json::Value;

pub struct HubClient {
    pub http: reqwest::Client,
    pub base: String,
    token: String,
}

/// `message (code)` from an error body, or the status when there is none.
pub fn error_text(body: &Value, status: u16) -> String {
    match (body["code"].as_str(), body["message"].as_str()) {
        (Some(code), Some(message)) => format!("{message} ({code})"),
        _ => format!("the hub answered {status}"),
    }
}

impl HubClient {
    pub fn new(base: &str, token: String) -> anyhow::Result<HubClient> {
        Ok(HubClient {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// A JSON call; a body makes it a creating POST with a fresh `Idempotency-Key`.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .json(&body);
        }
        self.answer(request).await
    }

    /// A creating POST of JSON with the caller's own `Idempotency-Key` (a payment whose proof
    /// covers the key).
    pub async fn post_keyed(&self, path: &str, body: &Value, key: &str) -> anyhow::Result<Value> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("idempotency-key", key)
            .json(body);
        self.answer(request).await
    }

    /// A creating POST of raw bytes (a photo).
    pub async fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .header("content-type", content_type)
            .body(bytes);
        self.answer(request).await
    }

    async fn answer(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request.send().await.with_context(|| {
            format!(
                "reaching the hub at {} (is `scanpay up` running?)",
                self.base
            )
        })?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            bail!("{}", error_text(&body, status));
        }
        Ok(body)
    }
}
