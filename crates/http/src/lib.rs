//! HTTP plumbing shared by the hub and the bank, so both answer the same way.
//!
//! - [`ApiError`]: every error answer, rendered from the code table in `scanpay-proto` as
//!   `{code, message, type, request_id}`; internal errors are logged in full and answered opaque.
//! - [`Json`], [`Query`], [`Path`]: extractors whose rejections (malformed, unknown field, wrong
//!   type, too large, wrong content type) become error bodies with stable codes.
//! - [`observe`]: the middleware that gives each request an id, logs it, and counts it.
//! - [`Metrics`]: counters and histograms rendered in the Prometheus text format.
//! - [`serve`]: runs a router on a listener until a shutdown future resolves, draining requests.
//!
//! Deliberately not here: authentication (each service has its own scheme), routes.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scanpay_proto::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER_REQUEST_ID: &str = "x-request-id";

/// The id of the request being handled, or `-` outside of one.
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".to_string())
}

/// Milliseconds since the Unix epoch, from the system clock: the one place services read it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An error answer: a code from the table, a message a person can act on, optional details.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// An unexpected failure: logged here in full, answered as an opaque 500.
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(request_id = %request_id(), error = %error, "internal error");
        ApiError::new(
            ErrorCode::Internal,
            "Something went wrong on our side. Quote the request id if you ask for help.",
        )
    }
}

impl ApiError {
    /// The error's body, as an answer carries it (or one item of a batch's answer).
    pub fn body(self) -> ErrorBody {
        ErrorBody {
            code: self.code.code().to_string(),
            message: self.message,
            error_type: self.code.error_type(),
            request_id: request_id(),
            details: self.details,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}

/// A JSON body. Unlike `axum::Json`, its rejections are [`ApiError`]s with stable codes.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A lower-case clause from a domain error (`the refund is above …`) as a sentence a person
/// reads: capitalised, ending with a full stop.
pub fn sentence(clause: impl std::fmt::Display) -> String {
    let text = clause.to_string();
    let mut chars = text.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

/// A JSON body already read (say, out of a sealed envelope), with the same errors as [`Json`].
pub fn json_from_bytes<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    axum::Json::<T>::from_bytes(bytes)
        .map(|axum::Json(value)| value)
        .map_err(json_rejection)
}

/// A query string. Unlike `axum::extract::Query`, a bad one is an [`ApiError`].
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::new(
                ErrorCode::RequestInvalid,
                format!("The query string is not valid: {}", rejection.body_text()),
            )),
        }
    }
}

/// Path parameters. Unlike `axum::extract::Path`, a bad one (an id that is not a UUID) is an
/// [`ApiError`].
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::new(
                ErrorCode::RequestInvalid,
                format!("The path is not valid: {}", rejection.body_text()),
            )),
        }
    }
}

/// A store that failed: logged in full, answered as 503 `store_unavailable` (retrying may help;
/// nothing of the request was written, because every write is one transaction).
pub fn store_unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(request_id = %request_id(), error = %error, "store failed");
    ApiError::new(
        ErrorCode::StoreUnavailable,
        "The service cannot reach its database right now; retry in a moment.",
    )
}

fn json_rejection(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
    use axum::extract::rejection::JsonRejection as R;
    let text = rejection.body_text();
    match rejection {
        R::JsonSyntaxError(_) => ApiError::new(
            ErrorCode::JsonMalformed,
            format!("The body is not valid JSON: {text}"),
        ),
        R::JsonDataError(_) => ApiError::new(
            ErrorCode::RequestInvalid,
            format!("The body does not match the expected fields: {text}"),
        ),
        R::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::ContentTypeUnsupported,
            "Send the body as JSON with `content-type: application/json`.",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::PayloadTooLarge,
            "The body is larger than this endpoint accepts.",
        ),
        other => ApiError::new(ErrorCode::RequestInvalid, other.body_text()),
    }
}

/// Answers paths that match no route.
pub async fn route_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        "No such endpoint. See /openapi.json.",
    )
}

/// Answers a known path called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "This endpoint does not take that method.",
    )
}

/// Request ids, access logs and request metrics. Takes the caller's `x-request-id` when it is a
/// sane token, otherwise makes one; echoes it on the response.
pub async fn observe(metrics: Arc<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(HEADER_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().clone();
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    tracing::debug!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        elapsed_us = elapsed.as_micros() as u64,
        "request"
    );
    metrics.count(
        "http_requests_total",
        &[
            ("method", method.as_str()),
            ("route", &route),
            ("status", &status.to_string()),
        ],
        1,
    );
    metrics.observe(
        "http_request_duration_seconds",
        &[("route", &route)],
        elapsed,
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(HEADER_REQUEST_ID, value);
    }
    response
}

/// Upper bounds of the duration histograms, in seconds.
const BUCKETS_SECONDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS_SECONDS.len()],
    count: u64,
    sum_seconds: f64,
}

type Series = (String, String);

/// Counters and histograms in memory, rendered for Prometheus at `/metrics`. Label values come
/// from routes and codes, never from user input, so the series stay few.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<Series, u64>>,
    gauges: Mutex<BTreeMap<Series, i64>>,
    histograms: Mutex<BTreeMap<Series, Histogram>>,
}

fn series(name: &str, labels: &[(&str, &str)]) -> Series {
    let labels = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(",");
    (name.to_string(), labels)
}

impl Metrics {
    pub fn count(&self, name: &str, labels: &[(&str, &str)], by: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *counters.entry(series(name, labels)).or_default() += by;
    }

    /// Sets counters kept elsewhere (a store's own counts) to their current values.
    pub fn set_counters<'a>(
        &self,
        series_values: impl IntoIterator<Item = (&'a str, &'a [(&'a str, &'a str)], u64)>,
    ) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for (name, labels, value) in series_values {
            counters.insert(series(name, labels), value);
        }
    }

    pub fn set(&self, name: &str, labels: &[(&str, &str)], value: i64) {
        let mut gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        gauges.insert(series(name, labels), value);
    }

    pub fn observe(&self, name: &str, labels: &[(&str, &str)], value: Duration) {
        let seconds = value.as_secs_f64();
        let mut histograms = self.histograms.lock().unwrap_or_else(|e| e.into_inner());
        let h = histograms.entry(series(name, labels)).or_default();
        for (bucket, bound) in h.buckets.iter_mut().zip(BUCKETS_SECONDS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        h.count += 1;
        h.sum_seconds += seconds;
    }

    /// The Prometheus text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let braces = |labels: &str| {
            if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            }
        };
        let mut last = String::new();
        for ((name, labels), value) in self
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name.clone();
            }
            let _ = writeln!(out, "{name}{} {value}", braces(labels));
        }
        for ((name, labels), value) in self.gauges.lock().unwrap_or_else(|e| e.into_inner()).iter()
        {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} gauge");
                last = name.clone();
            }
            let _ = writeln!(out, "{name}{} {value}", braces(labels));
        }
        for ((name, labels), h) in self
            .histograms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} histogram");
                last = name.clone();
            }
            let sep = if labels.is_empty() { "" } else { "," };
            for (count, bound) in h.buckets.iter().zip(BUCKETS_SECONDS) {
                let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{} {}", braces(labels), h.sum_seconds);
            let _ = writeln!(out, "{name}_count{} {}", braces(labels), h.count);
        }
        out
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// the requests in flight, at most `drain_timeout`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_timeout: Duration,
) -> std::io::Result<()> {
    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = draining_tx.send(());
        })
        .into_future();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        _ = draining_rx => {}
    }
    match tokio::time::timeout(drain_timeout, server).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!("requests still in flight after the drain timeout; stopping anyway");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_prometheus_text() {
        let metrics = Metrics::default();
        metrics.count("requests_total", &[("route", "/a"), ("status", "200")], 2);
        metrics.set("accounts", &[], 7);
        metrics.observe(
            "latency_seconds",
            &[("route", "/a")],
            Duration::from_millis(3),
        );
        let text = metrics.render();
        assert!(text.contains("# TYPE requests_total counter\n"));
        assert!(text.contains("requests_total{route=\"/a\",status=\"200\"} 2\n"));
        assert!(text.contains("accounts 7\n"));
        assert!(text.contains("latency_seconds_bucket{route=\"/a\",le=\"0.0025\"} 0\n"));
        assert!(text.contains("latency_seconds_bucket{route=\"/a\",le=\"0.005\"} 1\n"));
        assert!(text.contains("latency_seconds_count{route=\"/a\"} 1\n"));
    }
}
