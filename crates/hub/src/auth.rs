//! Callers and their bearer tokens.
//!
//! A token is `sp_` + 32 random bytes in hex, shown once when issued. The hub keeps only its
//! SHA-256: tokens carry 256 bits of entropy, so a fast hash is enough (a slow password hash
//! would only slow every request). The authenticated caller travels in the request's extensions.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::RngCore;
use scanpay_http::ApiError;
use scanpay_proto::ErrorCode;
use scanpay_proto::hub::CallerKind;
use scanpay_store::{CallerRow, HubStore, StoreError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{BankConnector, Hub};

/// The caller a request was authenticated as.
#[derive(Clone, Debug)]
pub struct Caller {
    pub id: Uuid,
    pub kind: CallerKind,
    pub name: String,
    pub created_at_ms: i64,
}

pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("sp_{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Refuses requests without a valid `Authorization: Bearer <token>`.
pub async fn authenticate<S: HubStore, B: BankConnector>(
    State(hub): State<Hub<S, B>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    let Some(token) = token else {
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "Send a token issued by the hub as `Authorization: Bearer <token>`.",
        )
        .into_response();
    };
    let hash = token_hash(token);
    if let Some(caller) = hub.callers.get(&hash) {
        request.extensions_mut().insert(caller);
        return next.run(request).await;
    }
    let row = match hub.store.caller_by_token_hash(hash.clone()).await {
        Ok(row) => row,
        Err(error) => return scanpay_http::store_unavailable(error).into_response(),
    };
    let Some(row) = row else {
        return ApiError::new(ErrorCode::Unauthenticated, "This token is not valid.")
            .into_response();
    };
    let Some(kind) = CallerKind::parse(&row.kind) else {
        return ApiError::internal(format!("caller {} has unknown kind", row.id)).into_response();
    };
    let caller = Caller {
        id: row.id,
        kind,
        name: row.name,
        created_at_ms: row.created_at_ms,
    };
    // A token is never revoked or reassigned: what it names is kept (see `remembered`).
    hub.callers.keep(hash, caller.clone());
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Only operators may do this.
/// Refuses a caller that is not a wallet with `message` (`403 forbidden`).
pub fn require_wallet(caller: &Caller, message: &str) -> Result<(), ApiError> {
    if caller.kind == CallerKind::Wallet {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden, message.to_string()))
    }
}

pub fn require_operator(caller: &Caller) -> Result<(), ApiError> {
    if caller.kind == CallerKind::Operator {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only an operator may do this.",
        ))
    }
}

/// Makes sure the operator token in `path` exists and is known to the hub: reads it, or makes a
/// new one there (mode 0600) on first start. Two hubs given the same path agree on one token.
pub async fn ensure_operator_token<S: HubStore>(
    store: &S,
    path: &std::path::Path,
) -> anyhow::Result<String> {
    ensure_token_caller(store, path, CallerKind::Operator, "operator", |_| async {
        Ok(())
    })
    .await
}

/// Makes sure the token file at `path` exists (made on first start, mode 0600) and that its
/// caller exists in the store; `then` runs once the caller exists (with its id) and must be
/// idempotent. Two processes racing on one path agree on one token and one caller: the caller's
/// id derives from the token.
pub async fn ensure_token_caller<S, F, Fut>(
    store: &S,
    path: &std::path::Path,
    kind: CallerKind,
    name: &str,
    then: F,
) -> anyhow::Result<String>
where
    S: HubStore,
    F: FnOnce(Uuid) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let token = read_or_create_token(path).await?;
    let hash = token_hash(&token);
    let id = uuid::Builder::from_random_bytes(hash[..16].try_into().expect("16 bytes")).into_uuid();
    if store.caller_by_token_hash(hash.clone()).await?.is_none() {
        let row = CallerRow {
            id,
            kind: kind.code().to_string(),
            name: name.to_string(),
            token_hash: hash,
            created_at_ms: scanpay_http::now_ms(),
        };
        match store.insert_caller(row).await {
            Ok(()) | Err(StoreError::Duplicate(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let caller = store
        .caller_by_token_hash(token_hash(&token))
        .await?
        .ok_or_else(|| anyhow::anyhow!("the caller of {} vanished", path.display()))?;
    then(caller.id).await?;
    Ok(token)
}

/// Reads the token in `path`, or writes a new one there (mode 0600, published whole); a process
/// that loses the race to create it reads the winner's.
async fn read_or_create_token(path: &std::path::Path) -> anyhow::Result<String> {
    if !path.try_exists()? {
        scanpay_store::files::publish_private_file(path, new_token().as_bytes())?;
    }
    let token = std::fs::read_to_string(path)?.trim().to_string();
    // Never the hash of nothing as a caller's token (a file emptied by hand, or written by an
    // older version that died mid-write).
    anyhow::ensure!(
        !token.is_empty(),
        "{} is empty: delete it to have a new token made",
        path.display()
    );
    Ok(token)
}
