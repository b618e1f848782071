//! The pages' static files, compiled into the binary with `include_str!` (a few small
//! scripts need no embedding crate). Each is served under a name carrying a hash of
//! its content, `/assets/queue.<hash>.js`, so browsers and proxies may cache it for
//! a year: a new build changes the name, never the bytes behind an old one.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::http::extract::PathParams;

/// How long a hashed asset may be cached: a year, the most RFC 9111 caches honour.
pub const asset_max_age_secs: u32 = 365 * 24 * 3600;

struct Asset {
    name: &'static str,
    body: &'static str,
    /// `/assets/<stem>.<first 8 bytes of SHA-256 as hex>.<ext>`.
    path: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        ("pow.js", include_str!("../../assets/pow.js")),
        ("queue.js", include_str!("../../assets/queue.js")),
        ("shop.js", include_str!("../../assets/shop.js")),
        ("boxoffice.js", include_str!("../../assets/boxoffice.js")),
        ("office.js", include_str!("../../assets/office.js")),
        ("merchant.js", include_str!("../../assets/merchant.js")),
    ]
        .into_iter()
        .map(|(name, body)| {
            let digest = Sha256::digest(body.as_bytes());
            let (stem, ext) = name.rsplit_once('.').expect("asset names have an extension");
            Asset { name, body, path: format!("/assets/{stem}.{}.{ext}", hex::encode(&digest[..8])) }
        })
        .collect()
});

/// The versioned URL of an asset by its file name.
pub fn path(name: &str) -> &'static str {
    let asset = ASSETS.iter().find(|a| a.name == name).unwrap_or_else(|| panic!("no asset {name}"));
    asset.path.as_str()
}

/// Only the current hashed names are served: an old name is a 404, not stale bytes
/// under a year-long cache header.
pub async fn serve(PathParams(file): PathParams<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path.strip_prefix("/assets/") == Some(file.as_str())) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    let cache = format!("public, max-age={asset_max_age_secs}, immutable");
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_str(&cache).expect("ascii"));
    response
}
