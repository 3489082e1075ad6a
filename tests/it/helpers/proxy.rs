//! A forward proxy on loopback that records what it is asked, as a corporate proxy on a self-hosted runner
//! would see it.
//!
//! - `CONNECT host:port` (https, and http through a tunnel): answers `200 Connection established` and pipes
//!   bytes both ways; recorded as `CONNECT host:port`.
//! - An absolute-form request (`POST http://host:port/path HTTP/1.1`, how plain http goes through a proxy):
//!   recorded as `POST http://host:port/path`, then the connection is piped to `host:port` as is (HTTP/1.1
//!   servers accept the absolute form). Later requests on a kept-alive connection go to the same origin.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The running proxy.
#[derive(Clone)]
pub struct RecordingProxy {
    pub url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    /// Starts on a free loopback port, on the current tokio runtime.
    pub async fn start() -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let record = record.clone();
                tokio::spawn(async move {
                    let _ = serve(client, record).await;
                });
            }
        });
        RecordingProxy { url, seen }
    }

    /// Every request line seen, in order (`CONNECT localhost:4321`, `POST http://127.0.0.1:5/`).
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The `CONNECT` targets seen.
    pub fn connects(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter_map(|l| l.strip_prefix("CONNECT ").map(str::to_owned))
            .collect()
    }
}

async fn serve(mut client: TcpStream, seen: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    // Read the request head (up to the blank line).
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let line = text.lines().next().unwrap_or_default().to_owned();
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    seen.lock().unwrap().push(format!("{method} {target}"));
    if method == "CONNECT" {
        let Ok(mut upstream) = TcpStream::connect(&target).await else {
            client
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await?;
            return Ok(());
        };
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    let Some(authority) = target
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
    else {
        client
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let authority = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut upstream = TcpStream::connect(&authority).await?;
    upstream.write_all(&head).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
