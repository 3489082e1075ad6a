//! One endpoint for a service in two regions: a front on loopback that forwards each request to the
//! scripted endpoint of the region its SigV4 `Authorization` header is signed for
//! (`Credential=<key>/<date>/<region>/<service>/aws4_request`), as AWS's regional endpoints separate them.
//! A promotion between accounts reads the source environment in its region and deploys in this step's,
//! through the one `AWS_ENDPOINT_URL_<SERVICE>` a process has.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::fake_server::{Call, serve_local};

struct Inner {
    /// Region -> `http://host:port` of its endpoint.
    regions: BTreeMap<String, String>,
}

/// The front's URL (`http://127.0.0.1:PORT`); it serves until the test's runtime ends.
pub async fn start(regions: &[(&str, &str)]) -> String {
    let inner = Arc::new(Inner {
        regions: regions
            .iter()
            .map(|(r, u)| ((*r).to_owned(), (*u).trim_end_matches('/').to_owned()))
            .collect(),
    });
    let app = axum::Router::new().fallback(route).with_state(inner);
    serve_local(app).await
}

async fn route(
    State(inner): State<Arc<Inner>>,
    Call(method, uri, headers, body): Call,
) -> Response {
    let region = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or_default()
        .to_owned();
    let Some(base) = inner.regions.get(&region) else {
        return (
            StatusCode::BAD_REQUEST,
            format!("no endpoint for region {region:?}"),
        )
            .into_response();
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    forward(base, method, path, &headers, body)
        .await
        .into_response()
}

pub type Answer = (
    axum::http::StatusCode,
    axum::http::HeaderMap,
    axum::body::Bytes,
);

/// Forwards one request to `upstream` (`http://host:port`) and returns its answer unchanged.
pub async fn forward(
    upstream: &str,
    method: axum::http::Method,
    path: &str,
    headers: &axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Answer {
    use axum::http::{HeaderMap, StatusCode};
    let mut req = crate::helpers::reqwest_client().request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
        format!("{upstream}{path}"),
    );
    for (k, v) in headers {
        if k != "host" {
            req = req.header(k.as_str(), v.as_bytes());
        }
    }
    let resp = req.body(body.to_vec()).send().await.unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let mut h = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                v.as_bytes().try_into().unwrap(),
            );
        }
    }
    (status, h, resp.bytes().await.unwrap())
}
