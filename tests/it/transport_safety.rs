//! Transport safety: plain http only to loopback (the Graph and login roots, and the default
//! transport itself), no redirect ever followed (Graph and login endpoints), and replies larger
//! than the limit refused whether or not they announce their length.

use std::sync::{Arc, Mutex};

use crate::common;
use entra_appreg::auth::{ClientSecret, ClientSecretCredential, DeviceCodeCredential, StaticToken};
use entra_appreg::graph::GraphRequest;
use entra_appreg::retry::RecordingSleeper;
use entra_appreg::transport::{
    GraphTransport, MAX_RESPONSE_BYTES, ReqwestTransport, TransportErrorKind,
};
use entra_appreg::{Cloud, Endpoints, Error, Graph};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const INSECURE: &[&str] = &[
    "http://graph.microsoft.com",
    "http://login.microsoftonline.com/",
    "http://10.0.0.1:8080",
    "http://192.168.1.10",
    "http://0.0.0.0:80",
    "http://[::]:80",
    "http://localhost.evil.example",
    "http://127.0.0.1.nip.io",
    "http://127.0.0.1@evil.example",
    "http://evil.example#@127.0.0.1",
    "http://[::ffff:10.0.0.1]",
    "ftp://127.0.0.1",
    "ws://127.0.0.1:80",
    "file:///etc/passwd",
    "javascript:alert(1)",
];

const LOOPBACK: &[&str] = &[
    "http://127.0.0.1:8080",
    "http://127.1.2.3",
    "http://localhost:3000/",
    "http://LOCALHOST",
    "http://[::1]:9",
    "https://graph.microsoft.com",
    "https://proxy.corp.example/graph/",
];

#[test]
fn graph_and_login_roots_refuse_plain_http_except_to_loopback() {
    for url in INSECURE {
        for which in ["graph", "login"] {
            let base = Endpoints::for_cloud(Cloud::Global);
            let r = if which == "graph" {
                base.with_graph_root(url)
            } else {
                base.with_login_root(url)
            };
            let e = r.expect_err(url);
            assert!(e.is_invalid_input(), "{which} {url}: {e}");
            let builder = Graph::builder()
                .tenant(common::TENANT)
                .token_provider(StaticToken::new("t"));
            let builder = if which == "graph" {
                builder.graph_root(*url)
            } else {
                builder.login_root(*url)
            };
            assert!(
                builder.build().unwrap_err().is_invalid_input(),
                "{which} {url}"
            );
        }
    }
    for url in LOOPBACK {
        Endpoints::for_cloud(Cloud::Global)
            .with_graph_root(url)
            .and_then(|e| e.with_login_root(url))
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

/// A loopback HTTP/1.1 server that answers every request with `respond(request line)` as raw
/// bytes, and records the request lines.
async fn serve(
    respond: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (respond, log) = (respond.clone(), log.clone());
            tokio::spawn(async move {
                let _ = answer(stream, respond.as_ref(), &log).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

/// What the test server sends.
enum Reply {
    /// A redirect to `location`.
    Redirect(u16, String),
    /// `len` bytes of JSON-ish body, with a `Content-Length` or chunked without one.
    Body { len: usize, chunked: bool },
}

async fn answer(
    mut stream: TcpStream,
    respond: &(dyn Fn(&str) -> Reply + Send + Sync),
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let line = text.lines().next().unwrap_or_default().to_owned();
    log.lock().unwrap().push(line.clone());
    match respond(&line) {
        Reply::Redirect(code, location) => {
            let head = format!(
                "HTTP/1.1 {code} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
        }
        Reply::Body { len, chunked } => {
            let framing = if chunked {
                "Transfer-Encoding: chunked".to_owned()
            } else {
                format!("Content-Length: {len}")
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            // A JSON string: valid whenever the client accepts the whole body.
            let body: Vec<u8> = if len >= 2 {
                std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'x', len - 2))
                    .chain(std::iter::once(b'"'))
                    .collect()
            } else {
                vec![b'0'; len]
            };
            for chunk in body.chunks(64 * 1024) {
                if chunked {
                    stream
                        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .await?;
                    stream.write_all(chunk).await?;
                    stream.write_all(b"\r\n").await?;
                } else {
                    stream.write_all(chunk).await?;
                }
            }
            if chunked {
                stream.write_all(b"0\r\n\r\n").await?;
            }
        }
    }
    stream.flush().await
}

fn request(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url).body(Vec::new()).unwrap()
}

/// A non-loopback address of this machine, if it has one.
fn own_non_loopback_ipv4() -> Option<std::net::Ipv4Addr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?;
    match probe.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[tokio::test]
async fn the_default_transport_refuses_plain_http_to_other_hosts_without_sending() {
    let transport = ReqwestTransport::new().unwrap();
    for url in [
        "http://graph.microsoft.com/v1.0/applications",
        "http://localhost.evil.example/v1.0/x",
        "http://10.255.255.1/v1.0/x",
        "ftp://127.0.0.1/v1.0/x",
    ] {
        let e = transport.send(request(url)).await.unwrap_err();
        assert_eq!(e.kind(), TransportErrorKind::InsecureUrl, "{url}: {e}");
        assert!(!e.may_have_reached_server(), "{url}");
    }
    // A server of this machine on a non-loopback address never hears from it over http.
    if let Some(ip) = own_non_loopback_ipv4() {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://{ip}:{port}/v1.0/applications");
        let e = transport.send(request(&url)).await.unwrap_err();
        assert_eq!(e.kind(), TransportErrorKind::InsecureUrl, "{url}: {e}");
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "a connection reached {url}");
    } else {
        eprintln!("no non-loopback address: the no-connection check was skipped");
    }
    // Loopback over http is allowed.
    let (root, seen) = serve(|_| Reply::Body {
        len: 2,
        chunked: false,
    })
    .await;
    let ok = transport
        .send(request(&format!("{root}/v1.0/x")))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn redirects_from_the_login_endpoints_are_refused_not_followed() {
    for code in [301u16, 302, 303, 307, 308] {
        // The redirect points to another server: following it would show up there.
        let (elsewhere, seen) = serve(|_| Reply::Body {
            len: 2,
            chunked: false,
        })
        .await;
        let target = format!("{elsewhere}/stolen");
        let (redirecting, log) = serve(move |_| Reply::Redirect(code, target.clone())).await;
        let graph = Graph::builder()
            .tenant(common::TENANT)
            .graph_root(&redirecting)
            .login_root(&redirecting)
            .token_provider(StaticToken::new("t"))
            .sleeper(RecordingSleeper::default())
            .build()
            .unwrap();
        let secret = ClientSecretCredential::new(
            "5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse().unwrap(),
            ClientSecret::new("s3cret"),
        );
        for (what, r) in [
            ("client secret", graph.token_from(&secret).await),
            (
                "device code",
                graph.token_from(&DeviceCodeCredential::new(|_| {})).await,
            ),
        ] {
            match r {
                Err(Error::Transport(e)) => {
                    assert_eq!(e.kind(), TransportErrorKind::Redirect, "{code} {what}: {e}")
                }
                other => panic!("{code} {what}: {other:?}"),
            }
        }
        // Graph requests too (and a redirect is not retried).
        let e = graph
            .send(&GraphRequest::get("/applications"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Transport(t) if t.kind() == TransportErrorKind::Redirect),
            "{e:?}"
        );
        assert_eq!(
            log.lock().unwrap().len(),
            3,
            "{code}: one request each, no retry"
        );
        assert!(
            seen.lock().unwrap().is_empty(),
            "{code}: the redirect was followed"
        );
    }
}

/// Sends one request to a server answering with `len` bytes, through `transport`.
async fn fetch(
    transport: &ReqwestTransport,
    len: usize,
    chunked: bool,
) -> Result<usize, entra_appreg::transport::TransportError> {
    let (root, _) = serve(move |_| Reply::Body { len, chunked }).await;
    transport
        .send(request(&format!("{root}/v1.0/x")))
        .await
        .map(|r| r.body().len())
}

#[tokio::test]
async fn replies_over_the_size_limit_are_refused_with_or_without_a_length() {
    let transport = ReqwestTransport::new().unwrap();
    for chunked in [false, true] {
        let e = fetch(&transport, MAX_RESPONSE_BYTES + 1, chunked)
            .await
            .unwrap_err();
        assert_eq!(
            e.kind(),
            TransportErrorKind::BodyTooLarge,
            "chunked {chunked}: {e}"
        );
        let e = fetch(&transport, MAX_RESPONSE_BYTES + 3 * 1024 * 1024, chunked)
            .await
            .unwrap_err();
        assert_eq!(
            e.kind(),
            TransportErrorKind::BodyTooLarge,
            "chunked {chunked}: {e}"
        );
        assert_eq!(
            fetch(&transport, MAX_RESPONSE_BYTES, chunked)
                .await
                .unwrap(),
            MAX_RESPONSE_BYTES,
            "chunked {chunked}: a reply at the limit is accepted"
        );
    }
    // The limit is exact, and configurable.
    let small = ReqwestTransport::new().unwrap().max_response_bytes(1000);
    for chunked in [false, true] {
        assert_eq!(fetch(&small, 1000, chunked).await.unwrap(), 1000);
        let e = fetch(&small, 1001, chunked).await.unwrap_err();
        assert_eq!(
            e.kind(),
            TransportErrorKind::BodyTooLarge,
            "chunked {chunked}"
        );
    }
}

#[tokio::test]
async fn an_oversized_reply_is_a_typed_error_for_graph_and_sign_in() {
    for chunked in [false, true] {
        let (root, seen) = serve(move |_| Reply::Body {
            len: MAX_RESPONSE_BYTES + 1,
            chunked,
        })
        .await;
        let graph = Graph::builder()
            .tenant(common::TENANT)
            .graph_root(&root)
            .login_root(&root)
            .token_provider(StaticToken::new("t"))
            .sleeper(RecordingSleeper::default())
            .build()
            .unwrap();
        let e = graph
            .send(&GraphRequest::get("/applications"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Transport(t) if t.kind() == TransportErrorKind::BodyTooLarge),
            "{e:?}"
        );
        assert!(e.to_string().len() < 500, "{e}");
        let secret = ClientSecretCredential::new(
            "5f0f8757-988d-474c-9f85-74a6bc70dfd0".parse().unwrap(),
            ClientSecret::new("s3cret"),
        );
        let e = graph.token_from(&secret).await.unwrap_err();
        assert!(
            matches!(&e, Error::Transport(t) if t.kind() == TransportErrorKind::BodyTooLarge),
            "{e:?}"
        );
        // Not retried: the request may have acted.
        assert_eq!(seen.lock().unwrap().len(), 2, "chunked {chunked}");
    }
}
