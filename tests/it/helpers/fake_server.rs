//! Pieces the in-process fake HTTP servers share: serving a router in the background, the whole request
//! as one extractor, a health route answering a settable status, and a client for the fronts that forward.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::Value;

/// Serves `app` on `listener` in the background, for as long as the test's runtime lives.
pub fn serve(listener: tokio::net::TcpListener, app: Router) {
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
}

/// Serves `app` on a free loopback port in the background; its URL, `http://127.0.0.1:PORT`.
pub async fn serve_local(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    serve(listener, app);
    url
}

/// A client that hands redirects back instead of following them (a front forwards them as they are).
pub fn forwarding_client() -> reqwest::Client {
    crate::helpers::reqwest_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A `GET` route answering the status `health` holds at the time of each request.
pub fn health_route<S: Clone + Send + Sync + 'static>(health: &Arc<AtomicU16>) -> MethodRouter<S> {
    let h = health.clone();
    get(move || {
        let h = h.clone();
        async move { StatusCode::from_u16(h.load(Ordering::SeqCst)).unwrap() }
    })
}

/// The bodies of the recorded `(operation, body)` requests whose operation is `op`, in order.
pub fn bodies_of(requests: &[(String, Value)], op: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|(o, _)| o == op)
        .map(|(_, b)| b.clone())
        .collect()
}

/// The whole request a catch-all handler reads: method, URI, headers and body (read as the `Bytes`
/// extractor reads it, under the same body limit).
pub struct Call(pub Method, pub Uri, pub HeaderMap, pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = req.method().clone();
        let uri = req.uri().clone();
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self(method, uri, headers, body))
    }
}
