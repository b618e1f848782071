//! Extractors that parse input at the edge and turn every failure into a problem:
//! JSON bodies (with a digest for idempotency fingerprints), path and query
//! parameters, the `Idempotency-Key` header and the admin bearer token.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::http::problem::Problem;

pub const idempotency_key_bytes_max: usize = 128;

/// A parsed JSON body plus a digest of method, path and raw body: the request
/// fingerprint an idempotency key is bound to.
pub struct JsonBody<T> {
    pub value: T,
    pub fingerprint: u64,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as 'Content-Type: application/json'",
            ));
        }
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let body = Bytes::from_request(req, state).await.map_err(body_problem)?;
        let value = serde_json::from_slice(&body).map_err(|e| {
            if e.is_data() {
                Problem::unprocessable("invalid_body", format!("the body does not match the expected shape: {e}"))
            } else {
                Problem::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
            }
        })?;
        Ok(JsonBody { value, fingerprint: fingerprint(method.as_str(), &path, &body) })
    }
}

fn body_problem(e: BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "Body too large", "the request body is too large")
    } else {
        Problem::bad_request("unreadable_body", "the request body could not be read")
    }
}

pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    let digest = hasher.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Path parameters with a problem instead of axum's plain-text rejection.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParams(p.0))
            .map_err(|e| Problem::not_found("not_found", format!("no such resource: {}", e.body_text())))
    }
}

/// Query parameters with a problem instead of axum's plain-text rejection.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e| Problem::bad_request("invalid_query", e.body_text()))
    }
}

/// The client's `Idempotency-Key`; required on every mutating call.
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Err(Problem::bad_request(
                "idempotency_key_missing",
                "every POST and DELETE needs an 'Idempotency-Key' header (1 to 128 visible ASCII characters)",
            ));
        };
        let bytes = value.as_bytes();
        if bytes.is_empty() || bytes.len() > idempotency_key_bytes_max || !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return Err(Problem::bad_request(
                "idempotency_key_invalid",
                "the 'Idempotency-Key' must be 1 to 128 visible ASCII characters",
            ));
        }
        Ok(IdempotencyKey(String::from_utf8_lossy(bytes).into_owned()))
    }
}

/// The bearer token, if any; checked against the tenant by the handler.
pub struct Bearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            // The scheme name is case-insensitive (RFC 9110 §11.1).
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_string());
        Ok(Bearer(token))
    }
}
