//! The hub's seam to issuing banks: [`BankConnector`], one implementation per kind of bank.
//!
//! [`HttpBank`] speaks scanpay's bank protocol (`scanpay-proto::bank`) over HTTP with signed
//! requests; a real bank plugs in by implementing the trait in a module of its own. Errors are
//! split the way callers must treat them: the bank answered no ([`ConnectorError::Refused`], with
//! its code) or the bank could not be asked ([`ConnectorError::Unavailable`], retry or reconcile).

use std::future::Future;
use std::time::Duration;

use scanpay_proto::ErrorBody;
use scanpay_proto::bank::{
    AccountView, BindRequest, Binding, CardAccount, CardNumberRequest, ClearingTransferRequest,
    PaymentDebitRequest, SavedIdentity, TransferRequest, TransferResult, VerifyBindingRequest,
};
use scanpay_proto::signing;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long the hub waits for a bank's answer.
const BANK_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries for requests that are safe to repeat (reads, and writes with idempotent ids).
const TRIES_MAX: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The bank answered with an error body: its decision stands.
    #[error("the bank refused: {} ({})", .0.code, .0.message)]
    Refused(ErrorBody),
    /// The bank did not answer usefully (down, timed out, garbled).
    #[error("the bank is unavailable: {0}")]
    Unavailable(String),
}

/// Whether a bank's error code is its decision on the request (final: the card is unknown, the
/// funds are short), rather than a problem between hub and bank that a retry or an operator may
/// cure: the hub's credentials refused, a route the bank does not have, a server error, a transfer
/// id the bank knows with other fields (the hub's own mistake; the original may be applied).
pub fn is_decision(code: &str) -> bool {
    use scanpay_proto::ErrorCode;
    use scanpay_proto::error::ErrorType;
    match ErrorCode::parse(code) {
        Some(
            ErrorCode::RouteNotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::ExistsWithDifferentFields,
        )
        | None => false,
        Some(code) => {
            code.http_status() < 500
                && !matches!(
                    code.error_type(),
                    ErrorType::Authentication | ErrorType::Permission | ErrorType::Internal
                )
        }
    }
}

/// What the hub asks of a bank. Every method is safe to retry.
pub trait BankConnector: Send + Sync + 'static {
    fn card_account(
        &self,
        card_number: &str,
    ) -> impl Future<Output = Result<CardAccount, ConnectorError>> + Send;
    fn saved_identity(
        &self,
        card_number: &str,
    ) -> impl Future<Output = Result<SavedIdentity, ConnectorError>> + Send;
    fn bind(
        &self,
        request: &BindRequest,
    ) -> impl Future<Output = Result<Binding, ConnectorError>> + Send;
    fn verify_binding(
        &self,
        request: &VerifyBindingRequest,
    ) -> impl Future<Output = Result<Binding, ConnectorError>> + Send;
    fn transfer(
        &self,
        request: &TransferRequest,
    ) -> impl Future<Output = Result<TransferResult, ConnectorError>> + Send;
    /// Debits the account bound to a registration code (the bank checks the binding).
    fn pay(
        &self,
        request: &PaymentDebitRequest,
    ) -> impl Future<Output = Result<TransferResult, ConnectorError>> + Send;
    /// Moves money between a customer account and the bank's clearing account.
    fn clearing_transfer(
        &self,
        request: &ClearingTransferRequest,
    ) -> impl Future<Output = Result<TransferResult, ConnectorError>> + Send;
    fn account(
        &self,
        id: uuid::Uuid,
    ) -> impl Future<Output = Result<AccountView, ConnectorError>> + Send;
    /// The bank's clearing accounts (one a currency; none before its first interbank payment).
    fn clearing_accounts(
        &self,
    ) -> impl Future<Output = Result<Vec<AccountView>, ConnectorError>> + Send;
    fn healthy(&self) -> impl Future<Output = Result<(), ConnectorError>> + Send;
}

/// A bank that speaks scanpay's bank protocol over HTTP.
pub struct HttpBank {
    base_url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl HttpBank {
    pub fn new(base_url: &str, secret: Vec<u8>) -> HttpBank {
        let client = reqwest::Client::builder()
            .timeout(BANK_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .expect("a plain HTTP client builds");
        HttpBank {
            base_url: base_url.trim_end_matches('/').to_string(),
            secret,
            client,
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ConnectorError> {
        let bytes = match body {
            Some(b) => {
                serde_json::to_vec(b).map_err(|e| ConnectorError::Unavailable(e.to_string()))?
            }
            None => Vec::new(),
        };
        let mut last_error = String::new();
        for attempt in 0..TRIES_MAX {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let timestamp = scanpay_http::now_ms() / 1000;
            let signature = signing::sign(&self.secret, timestamp, method.as_str(), path, &bytes);
            let mut request = self
                .client
                .request(method.clone(), format!("{}{path}", self.base_url))
                .header(signing::HEADER_TIMESTAMP, timestamp.to_string())
                .header(signing::HEADER_SIGNATURE, signature)
                .header(scanpay_http::HEADER_REQUEST_ID, scanpay_http::request_id());
            if body.is_some() {
                request = request
                    .header("content-type", "application/json")
                    .body(bytes.clone());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    last_error = e.to_string();
                    continue;
                }
            };
            let status = response.status();
            let text = match response.bytes().await {
                Ok(t) => t,
                Err(e) => {
                    last_error = e.to_string();
                    continue;
                }
            };
            if status.is_success() {
                return serde_json::from_slice(&text)
                    .map_err(|e| ConnectorError::Unavailable(format!("unreadable answer: {e}")));
            }
            match serde_json::from_slice::<ErrorBody>(&text) {
                Ok(body) if status.is_client_error() => return Err(ConnectorError::Refused(body)),
                Ok(body) => last_error = format!("{} {}", status, body.code),
                Err(_) => last_error = format!("{status} without an error body"),
            }
        }
        Err(ConnectorError::Unavailable(last_error))
    }
}

impl BankConnector for HttpBank {
    async fn card_account(&self, card_number: &str) -> Result<CardAccount, ConnectorError> {
        let body = CardNumberRequest {
            card_number: card_number.to_string(),
        };
        self.call(reqwest::Method::POST, "/v1/cards/lookup", Some(&body))
            .await
    }

    async fn saved_identity(&self, card_number: &str) -> Result<SavedIdentity, ConnectorError> {
        let body = CardNumberRequest {
            card_number: card_number.to_string(),
        };
        self.call(reqwest::Method::POST, "/v1/cards/identity", Some(&body))
            .await
    }

    async fn bind(&self, request: &BindRequest) -> Result<Binding, ConnectorError> {
        self.call(reqwest::Method::POST, "/v1/bindings", Some(request))
            .await
    }

    async fn verify_binding(
        &self,
        request: &VerifyBindingRequest,
    ) -> Result<Binding, ConnectorError> {
        self.call(reqwest::Method::POST, "/v1/bindings/verify", Some(request))
            .await
    }

    async fn transfer(&self, request: &TransferRequest) -> Result<TransferResult, ConnectorError> {
        self.call(reqwest::Method::POST, "/v1/transfers", Some(request))
            .await
    }

    async fn pay(&self, request: &PaymentDebitRequest) -> Result<TransferResult, ConnectorError> {
        self.call(reqwest::Method::POST, "/v1/payments", Some(request))
            .await
    }

    async fn clearing_transfer(
        &self,
        request: &ClearingTransferRequest,
    ) -> Result<TransferResult, ConnectorError> {
        self.call(
            reqwest::Method::POST,
            "/v1/clearing/transfers",
            Some(request),
        )
        .await
    }

    async fn account(&self, id: uuid::Uuid) -> Result<AccountView, ConnectorError> {
        self.call(
            reqwest::Method::GET,
            &format!("/v1/accounts/{id}"),
            None::<&()>,
        )
        .await
    }

    async fn clearing_accounts(&self) -> Result<Vec<AccountView>, ConnectorError> {
        self.call(
            reqwest::Method::GET,
            "/v1/accounts?kind=clearing",
            None::<&()>,
        )
        .await
    }

    async fn healthy(&self) -> Result<(), ConnectorError> {
        let url = format!("{}/readyz", self.base_url);
        match self.client.get(url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(ConnectorError::Unavailable(format!(
                "readyz answered {}",
                r.status()
            ))),
            Err(e) => Err(ConnectorError::Unavailable(e.to_string())),
        }
    }
}
