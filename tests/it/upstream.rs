//! A provider's API as the credential proxy's tests need one: HTTPS on 127.0.0.1 with a
//! certificate from a test CA made here (rcgen), recording every request it gets. On its own
//! thread and runtime, so sync CLI tests and async ones can use it alike.
//!
//! Routes: `…/sse` streams two server-sent events and sends the second only after the test
//! calls [`Upstream::release`] (so a proxy that buffers never delivers the first);
//! `…/unauthorized` answers 401; anything else 200 with a small JSON body; `…/slow` and
//! `…/slow/…` answer only once the test releases them.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

pub(crate) const EVENT_1: &str = "event: content_block_delta\ndata: {\"text\":\"Hel\"}\n\n";
pub(crate) const EVENT_2: &str =
    "event: content_block_delta\ndata: {\"text\":\"lo\"}\n\nevent: message_stop\ndata: {}\n\n";

/// What the upstream received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Everything it got, as text (to look for a token or credential anywhere in it).
    pub(crate) fn all_text(&self) -> String {
        let headers: Vec<String> = self.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        let headers = headers.join("\n");
        format!("{} {}\n{headers}\n{}", self.method, self.target, String::from_utf8_lossy(&self.body))
    }
}

pub(crate) struct Upstream {
    pub(crate) port: u16,
    /// The test CA that signed its certificate (for `[proxy] ca_file`).
    pub(crate) ca_pem: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<tokio::sync::Semaphore>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    pub(crate) fn start() -> Self {
        let (ca_pem, tls) = certificates();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = {
            let (seen, release) = (Arc::clone(&seen), Arc::clone(&release));
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(serve(listener, tls, seen, release, stopped));
            })
        };
        Self { port, ca_pem, seen, release, stop: Some(stop), thread: Some(thread) }
    }

    pub(crate) fn url(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Lets the SSE route send its second event, or the slow route answer.
    pub(crate) fn release(&self) {
        self.release.add_permits(1);
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A CA, and a server config with a certificate it signed for localhost and 127.0.0.1.
fn certificates() -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "machine proxy test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key.into())
        .unwrap();
    (ca.pem(), Arc::new(config))
}

async fn serve(
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<tokio::sync::Semaphore>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let (stream, _): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted { Ok(a) => a, Err(_) => continue },
        };
        let (acceptor, seen, release) = (acceptor.clone(), Arc::clone(&seen), Arc::clone(&release));
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else { return };
            let service = hyper::service::service_fn(move |req| answer(req, Arc::clone(&seen), Arc::clone(&release)));
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

type Reply = Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>;

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<tokio::sync::Semaphore>,
) -> Result<Reply, Infallible> {
    let method = req.method().to_string();
    let target = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    seen.lock().unwrap().push(Seen { method, target: target.clone(), headers, body });
    let path = target.split('?').next().unwrap_or_default().to_string();
    if path.ends_with("/sse") {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        tokio::spawn(async move {
            let _ = tx.send(Bytes::from_static(EVENT_1.as_bytes())).await;
            // The second event only once the test has the first one.
            let _permit = release.acquire().await;
            let _ = tx.send(Bytes::from_static(EVENT_2.as_bytes())).await;
        });
        let mut reply = Response::new(ChannelBody(rx).boxed());
        reply.headers_mut().insert("content-type", "text/event-stream".parse().unwrap());
        return Ok(reply);
    }
    if path.ends_with("/slow") || path.contains("/slow/") {
        // No answer until the test lets it.
        let _permit = release.acquire().await;
    }
    let (status, text) = if path.ends_with("/unauthorized") {
        (401, r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#.to_string())
    } else {
        (200, serde_json::json!({"echo": path}).to_string())
    };
    let mut reply = Response::new(Full::new(Bytes::from(text)).boxed());
    *reply.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    reply.headers_mut().insert("content-type", "application/json".parse().unwrap());
    reply.headers_mut().insert("request-id", "req_test".parse().unwrap());
    Ok(reply)
}

/// A body whose frames are whatever arrives on the channel, as it arrives.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// A client's answer from the proxy.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// One request to the proxy on 127.0.0.1:`port`, the way a guest's client sends it.
pub(crate) async fn request(port: u16, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let response = send(port, method, target, headers, body).await;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer { status, body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// The same from sync code (a CLI test), on a runtime of its own.
pub(crate) fn request_blocking(port: u16, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(request(port, method, target, headers, body))
}

/// The response, its body not read yet (to read it frame by frame).
pub(crate) async fn send(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response<Incoming> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("the proxy listens");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let mut builder =
        Request::builder().method(method).uri(target).header("host", format!("host.lima.internal:{port}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    sender.send_request(builder.body(Full::new(Bytes::from(body.to_string()))).unwrap()).await.unwrap()
}
