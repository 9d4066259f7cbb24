//! The web app: the wallet for a phone's browser and the merchant console, served by the hub.
//!
//! The app is plain ES modules, HTML and CSS in `crates/hub/web/`, compiled into the binary with
//! `include_str!`: no build step, no CDN, nothing fetched at run time. It talks to the same
//! `/v1` API as every other client, with the bearer token it keeps in the browser's storage.
//! Every asset is answered with a strict Content-Security-Policy (same origin only), so a
//! script injected through a name or a reference could not run.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use scanpay_http::ApiError;
use scanpay_proto::ErrorCode;

/// Each asset: its name under `/app/`, its media type and its text.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/api.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/ui.js"),
    ),
    (
        "session.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/session.js"),
    ),
    (
        "wallet.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/wallet.js"),
    ),
    (
        "merchant.js",
        "text/javascript; charset=utf-8",
        include_str!("../web/merchant.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../web/app.css"),
    ),
    ("icon.svg", "image/svg+xml", include_str!("../web/icon.svg")),
];

const INDEX: &str = include_str!("../web/index.html");

/// Same origin for everything; `blob:` for the camera's snapshots and the chosen photo's preview.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob:; \
    media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// `GET /`: the app's page.
pub async fn index() -> Response {
    asset_response("text/html; charset=utf-8", INDEX)
}

/// `GET /app/{name}`: one of the app's scripts, its style sheet or its icon.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, media_type, text)) => asset_response(media_type, text),
        None => {
            ApiError::new(ErrorCode::RouteNotFound, format!("No asset `{name}`.")).into_response()
        }
    }
}

fn asset_response(media_type: &'static str, text: &'static str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    // The assets change with the binary: ask again each time (cheap, they are small).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module the page or another module imports is served, so a renamed file cannot
    /// leave the app with a broken import.
    #[test]
    fn every_imported_module_is_served() {
        let mut referenced = Vec::new();
        for text in ASSETS.iter().map(|(_, _, t)| *t).chain([INDEX]) {
            for piece in text.split("/app/").skip(1) {
                let name: String = piece
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                    .collect();
                referenced.push(name);
            }
            for piece in text.split("from \"./").skip(1) {
                referenced.push(piece.split('"').next().unwrap().to_string());
            }
        }
        assert!(referenced.iter().any(|n| n == "app.js"), "{referenced:?}");
        for name in referenced {
            assert!(
                ASSETS.iter().any(|(n, _, _)| *n == name),
                "`{name}` is referenced but not served"
            );
        }
    }
}
