//! The hub's seam to issuing banks: [`BankConnector`], one implementation per kind of bank.
//!
//! [`HttpBank`] speaks scanpay's bank protocol (`scanpay-proto::bank`) over HTTP with signed
//! requests; a real bank plugs in by implementing the trait in a module of its own. Errors are
//! split the way callers must treat them: the bank answered no ([`ConnectorError::Refused`], with
//! its code) or the bank could not be asked ([`ConnectorError::Unavailable`], retry or reconcile).

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use scanpay_proto::ErrorBody;
use scanpay_proto::bank::{
    AccountView, BindRequest, Binding, BindingsRevoked, CardAccount, CardNumberRequest,
    ClearingTransferRequest, PAYMENTS_PER_BATCH_MAX, PaymentDebitBatch, PaymentDebitBatchResult,
    PaymentDebitRequest, RevokeBindings, SavedIdentity, TransferRequest, TransferResult,
    VerifyBindingRequest,
};
use scanpay_proto::signing;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// How long the hub waits for a bank's answer.
const BANK_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries for requests that are safe to repeat (reads, and writes with idempotent ids).
const TRIES_MAX: u32 = 3;

#[derive(Clone, Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The bank answered with an error body: its decision stands.
    #[error("the bank refused: {} ({})", .0.code, .0.message)]
    Refused(ErrorBody),
    /// The bank did not answer usefully (down, timed out, garbled).
    #[error("the bank is unavailable: {0}")]
    Unavailable(String),
}

/// Whether a bank's refusal is its decision on the request (final: the card is unknown, the
/// funds are short), rather than a problem between hub and bank that a retry or an operator may
/// cure: the hub's credentials refused, a route the bank does not have, a server error, a transfer
/// id the bank knows with other fields (the hub's own mistake; the original may be applied).
/// A code this hub does not know (a bank upgraded first) is a decision when the refusal names
/// the ledger outcome that decided it, and else not.
pub fn is_decision(body: &ErrorBody) -> bool {
    use scanpay_proto::ErrorCode;
    use scanpay_proto::error::ErrorType;
    match ErrorCode::parse(&body.code) {
        Some(
            ErrorCode::RouteNotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::ExistsWithDifferentFields,
        ) => false,
        None => ledger_outcome(body).is_some(),
        Some(code) => {
            code.http_status() < 500
                && !matches!(
                    code.error_type(),
                    ErrorType::Authentication | ErrorType::Permission | ErrorType::Internal
                )
        }
    }
}

/// The ledger's outcome a bank's refusal names (`details.outcome`), if it names one.
pub fn ledger_outcome(body: &ErrorBody) -> Option<String> {
    let outcome = body.details.as_ref()?.get("outcome")?.as_str()?;
    Some(outcome.to_string())
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
    /// Removes the bindings of a revoked registration's code.
    fn revoke_bindings(
        &self,
        request: &RevokeBindings,
    ) -> impl Future<Output = Result<BindingsRevoked, ConnectorError>> + Send;
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
///
/// Payments are sent in batches (`POST /v1/payments/batch`): each waits in a queue, and a sender
/// takes whatever is waiting whenever one of its few requests in flight is free. Alone, a payment
/// goes at once; under load, many share one request and one commit at the bank, which cuts the
/// HTTP work of the hub→bank hop by the batch's size.
pub struct HttpBank {
    link: Arc<Link>,
    payments: OnceLock<mpsc::UnboundedSender<PayJob>>,
}

/// The HTTP client of one bank.
struct Link {
    base_url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

/// A payment waiting to be sent, and where its answer goes.
struct PayJob {
    request: PaymentDebitRequest,
    reply: oneshot::Sender<Result<TransferResult, ConnectorError>>,
}

/// Batches of payments in flight to one bank at once, at most.
const PAY_BATCHES_IN_FLIGHT: usize = 4;

impl HttpBank {
    pub fn new(base_url: &str, secret: Vec<u8>) -> HttpBank {
        let client = reqwest::Client::builder()
            .timeout(BANK_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .expect("a plain HTTP client builds");
        HttpBank {
            link: Arc::new(Link {
                base_url: base_url.trim_end_matches('/').to_string(),
                secret,
                client,
            }),
            payments: OnceLock::new(),
        }
    }
}

/// Sends the queued payments in batches until the bank's connector is dropped.
async fn send_payments(link: Arc<Link>, mut jobs: mpsc::UnboundedReceiver<PayJob>) {
    let in_flight = Arc::new(Semaphore::new(PAY_BATCHES_IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = jobs.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < PAYMENTS_PER_BATCH_MAX {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let link = link.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let (payments, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|j| (j.request, j.reply)).unzip();
            let count = payments.len();
            let answer = link
                .call::<PaymentDebitBatchResult>(
                    reqwest::Method::POST,
                    "/v1/payments/batch",
                    Some(&PaymentDebitBatch { payments }),
                )
                .await;
            // A batch refused as a whole (the hub's credentials, a bank without batches, a body
            // it does not take) is no decision on any payment in it, whatever its code says: each
            // stays pending, to be asked again (a `request_invalid` here must not fail a debit
            // that an earlier, answered-but-lost request applied).
            let answer = answer.map_err(|error| match error {
                ConnectorError::Refused(body) => {
                    // Our credentials, our route or our body: an operator must look.
                    tracing::error!(code = %body.code, message = %body.message, payments = count,
                        "the bank refused a batch of payments as a whole; each will be asked again");
                    ConnectorError::Unavailable(format!(
                        "the bank refused the batch as a whole: {} ({})",
                        body.code, body.message
                    ))
                }
                unavailable => unavailable,
            });
            let results = answer.and_then(|answer| match answer.results.len() {
                n if n == count => Ok(answer.results),
                n => Err(ConnectorError::Unavailable(format!(
                    "the bank answered {n} payments of {count}"
                ))),
            });
            match results {
                Ok(results) => {
                    for (reply, outcome) in replies.into_iter().zip(results) {
                        let _ = reply.send(match outcome.into_answer() {
                            Some(answer) => answer.map_err(ConnectorError::Refused),
                            None => Err(ConnectorError::Unavailable(
                                "the bank answered a payment with nothing".to_string(),
                            )),
                        });
                    }
                }
                Err(error) => {
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        });
    }
}

impl Link {
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
        self.link
            .call(reqwest::Method::POST, "/v1/cards/lookup", Some(&body))
            .await
    }

    async fn saved_identity(&self, card_number: &str) -> Result<SavedIdentity, ConnectorError> {
        let body = CardNumberRequest {
            card_number: card_number.to_string(),
        };
        self.link
            .call(reqwest::Method::POST, "/v1/cards/identity", Some(&body))
            .await
    }

    async fn bind(&self, request: &BindRequest) -> Result<Binding, ConnectorError> {
        self.link
            .call(reqwest::Method::POST, "/v1/bindings", Some(request))
            .await
    }

    async fn verify_binding(
        &self,
        request: &VerifyBindingRequest,
    ) -> Result<Binding, ConnectorError> {
        self.link
            .call(reqwest::Method::POST, "/v1/bindings/verify", Some(request))
            .await
    }

    async fn revoke_bindings(
        &self,
        request: &RevokeBindings,
    ) -> Result<BindingsRevoked, ConnectorError> {
        self.link
            .call(reqwest::Method::POST, "/v1/bindings/revoke", Some(request))
            .await
    }

    async fn transfer(&self, request: &TransferRequest) -> Result<TransferResult, ConnectorError> {
        self.link
            .call(reqwest::Method::POST, "/v1/transfers", Some(request))
            .await
    }

    async fn pay(&self, request: &PaymentDebitRequest) -> Result<TransferResult, ConnectorError> {
        let queue = self.payments.get_or_init(|| {
            let (sender, jobs) = mpsc::unbounded_channel();
            tokio::spawn(send_payments(self.link.clone(), jobs));
            sender
        });
        let (reply, answer) = oneshot::channel();
        let job = PayJob {
            request: request.clone(),
            reply,
        };
        if queue.send(job).is_err() {
            return Err(ConnectorError::Unavailable(
                "the payment sender stopped".to_string(),
            ));
        }
        answer.await.unwrap_or_else(|_| {
            Err(ConnectorError::Unavailable(
                "the payment's batch was dropped".to_string(),
            ))
        })
    }

    async fn clearing_transfer(
        &self,
        request: &ClearingTransferRequest,
    ) -> Result<TransferResult, ConnectorError> {
        self.link
            .call(
                reqwest::Method::POST,
                "/v1/clearing/transfers",
                Some(request),
            )
            .await
    }

    async fn account(&self, id: uuid::Uuid) -> Result<AccountView, ConnectorError> {
        self.link
            .call(
                reqwest::Method::GET,
                &format!("/v1/accounts/{id}"),
                None::<&()>,
            )
            .await
    }

    async fn clearing_accounts(&self) -> Result<Vec<AccountView>, ConnectorError> {
        self.link
            .call(
                reqwest::Method::GET,
                "/v1/accounts?kind=clearing",
                None::<&()>,
            )
            .await
    }

    async fn healthy(&self) -> Result<(), ConnectorError> {
        let url = format!("{}/readyz", self.link.base_url);
        match self.link.client.get(url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(ConnectorError::Unavailable(format!(
                "readyz answered {}",
                r.status()
            ))),
            Err(e) => Err(ConnectorError::Unavailable(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(code: &str, outcome: Option<&str>) -> ErrorBody {
        let mut body = serde_json::json!({"code": code, "type": "rejected", "message": "no",
            "request_id": "r"});
        if let Some(outcome) = outcome {
            body["details"] = serde_json::json!({ "outcome": outcome });
        }
        serde_json::from_value(body).unwrap()
    }

    /// A code the hub knows keeps its meaning, with or without the ledger's outcome; one it does
    /// not know (a bank upgraded first) is a decision when it names the outcome.
    #[test]
    fn a_refusal_is_a_decision_by_its_code_or_its_outcome() {
        assert!(is_decision(&refusal(
            "insufficient_funds",
            Some("insufficient_funds")
        )));
        assert!(!is_decision(&refusal(
            "exists_with_different_fields",
            Some("exists_with_different_fields")
        )));
        assert!(!is_decision(&refusal("signature_invalid", None)));
        assert!(is_decision(&refusal(
            "a_code_from_later",
            Some("a_later_outcome")
        )));
        assert!(!is_decision(&refusal("a_code_from_later", None)));
    }

    /// A bank (a stand-in on loopback) that refuses every batch of payments as a whole, as an
    /// older bank refuses a body with a field it does not know.
    async fn refusing_bank() -> String {
        let refuse = || async {
            let body = serde_json::json!({"code": "request_invalid", "type": "invalid_request",
                "message": "unknown field `new_field`", "request_id": "r"});
            (
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(body),
            )
        };
        let app = axum::Router::new().route("/v1/payments/batch", axum::routing::post(refuse));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn a_batch_refused_as_a_whole_decides_no_payment_in_it() {
        let bank = HttpBank::new(&refusing_bank().await, b"secret".to_vec());
        let request = PaymentDebitRequest {
            transfer_id: uuid::Uuid::new_v4(),
            registration_code: "code".to_string(),
            terminal_id: "phone".to_string(),
            terminal_verified: false,
            amount_minor: 100.into(),
            currency: "USD".to_string(),
            credit_account_id: None,
            reference: None,
        };
        let answer = bank.pay(&request).await;
        // `request_invalid` answered for a single payment is a decision; for the batch it is not.
        assert!(is_decision(&refusal("request_invalid", None)));
        assert!(
            matches!(answer, Err(ConnectorError::Unavailable(ref detail)) if detail.contains("request_invalid")),
            "{answer:?}"
        );
    }
}
