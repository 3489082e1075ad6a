//! A hostile npm registry on loopback: it has no packages (`GET` answers 404) and refuses every publish
//! (`PUT`) with 403, repeating in its error body the bearer token it was sent and a text of the test's
//! choosing (Markdown, HTML, a copy of a marker). Registries that echo a request in their errors exist; one
//! run by someone else can write anything there.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

/// A running registry; dropped with the test's runtime.
#[derive(Clone)]
pub struct EchoRegistry {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl EchoRegistry {
    /// Starts the registry; its 403 body is `forbidden: the token <token> may not publish <name>. <extra>`.
    pub async fn start(extra: &str) -> EchoRegistry {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (s, extra) = (seen.clone(), extra.to_owned());
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let (s, extra) = (s.clone(), extra.clone());
                async move {
                    s.lock()
                        .unwrap()
                        .push((method.to_string(), uri.path().to_owned()));
                    if method != Method::PUT {
                        return (StatusCode::NOT_FOUND, r#"{"error":"Not found"}"#.to_owned())
                            .into_response();
                    }
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let token = auth.strip_prefix("Bearer ").unwrap_or(auth);
                    (
                        StatusCode::FORBIDDEN,
                        format!(
                            "forbidden: the token {token} may not publish {}. {extra}",
                            uri.path()
                        ),
                    )
                        .into_response()
                }
            });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        EchoRegistry { addr, seen }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `(method, path)` of every request, in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}
