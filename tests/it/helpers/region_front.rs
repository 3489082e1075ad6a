//! One endpoint for a service in two regions: a front on loopback that forwards each request to the
//! scripted endpoint of the region its SigV4 `Authorization` header is signed for
//! (`Credential=<key>/<date>/<region>/<service>/aws4_request`), as AWS's regional endpoints separate them.
//! A promotion between accounts reads the source environment in its region and deploys in this step's,
//! through the one `AWS_ENDPOINT_URL_<SERVICE>` a process has.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

struct Inner {
    /// Region -> `http://host:port` of its endpoint.
    regions: BTreeMap<String, String>,
    client: reqwest::Client,
}

/// The front's URL (`http://127.0.0.1:PORT`); it serves until the test's runtime ends.
pub async fn start(regions: &[(&str, &str)]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let inner = Arc::new(Inner {
        regions: regions
            .iter()
            .map(|(r, u)| ((*r).to_owned(), (*u).trim_end_matches('/').to_owned()))
            .collect(),
        client: reqwest::Client::new(),
    });
    let app = axum::Router::new().fallback(forward).with_state(inner);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    url
}

async fn forward(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
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
    let mut req = inner
        .client
        .request(method, format!("{base}{path}"))
        .body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" {
            out.insert(k, v.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap();
    (status, out, bytes).into_response()
}
