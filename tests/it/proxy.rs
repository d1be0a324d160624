//! The credential proxy's server in process, against a local HTTPS upstream with a test CA:
//! what reaches the upstream, what is refused before it, streaming, and credential failures.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::BodyExt as _;
use machine::compiler::config::proxy::{ProxySettings, Upstream as UpstreamUrl};
use machine::error::Error;
use machine::servers::proxy::control::{self, Request};
use machine::servers::proxy::credential::{self, Credential, Host};
use machine::servers::proxy::log;
use machine::servers::proxy::server::{self, Resolver};
use machine::servers::proxy::token::{self, TokenFile};

use crate::upstream::{self, EVENT_1, EVENT_2, Upstream, request};

const REAL: &str = "sk-ant-api03-REAL-credential-kept-on-the-host";
const TOKEN: &str = "machine-proxy-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A deadlock guard, never a timing assertion: only a proxy that holds data back hits it.
const HANG: Duration = Duration::from_mins(1);

/// The proxy, with VM `blog` registered, forwarding both providers to `upstream`.
struct Proxy {
    port: u16,
    dir: tempfile::TempDir,
    resolved: Arc<AtomicUsize>,
    /// Set when the server stopped taking connections (its `release`).
    released: Arc<AtomicBool>,
    /// Set when `server::run` returned (the daemon then drops its runtime, and every connection).
    ended: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    async fn start(upstream: &Upstream, resolver: Option<Resolver>) -> Self {
        Self::start_with(upstream, resolver, server::HEADER_TIMEOUT).await
    }

    async fn start_with(upstream: &Upstream, resolver: Option<Resolver>, header_timeout: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        token::write(&token::path(&state, "blog"), &TokenFile { token: TOKEN.into(), guest_env: String::new() })
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), &upstream.ca_pem).unwrap();
        let mut settings = ProxySettings { ca_file: Some(dir.path().join("ca.pem")), ..ProxySettings::default() };
        for p in &mut settings.providers {
            let base = p.upstream.base_path.clone();
            p.upstream = UpstreamUrl::parse(&format!("{}{base}", upstream.url())).unwrap();
        }
        let resolved = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&resolved);
        let inner = resolver.unwrap_or_else(|| Arc::new(|_| Ok(Credential::new(REAL, "a test"))));
        let resolver: Resolver = Arc::new(move |p| {
            counter.fetch_add(1, Ordering::SeqCst);
            inner(p)
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let control = tokio::net::UnixListener::bind(dir.path().join("control.sock")).unwrap();
        let options = server::Options {
            settings,
            state_dir: state,
            request_log: dir.path().join("requests.jsonl"),
            resolver,
            fingerprint: "test".into(),
            home: None,
            idle_exit: None,
            header_timeout,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let released = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(AtomicBool::new(false));
        let (flag, end) = (Arc::clone(&released), Arc::clone(&ended));
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            server::run(options, listener, Some(control), stopped, move || flag.store(true, Ordering::SeqCst))
                .await
                .unwrap();
            end.store(true, Ordering::SeqCst);
        });
        Self { port, dir, resolved, released, ended, stop: Some(stop) }
    }

    fn log(&self) -> Vec<log::Record> {
        log::read(&self.dir.path().join("requests.jsonl"))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("requests.jsonl")).unwrap_or_default()
    }

    async fn control(&self, request: Request) -> control::Reply {
        let socket = self.dir.path().join("control.sock");
        tokio::task::spawn_blocking(move || control::call(&socket, &request).unwrap().unwrap()).await.unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

#[tokio::test]
async fn the_real_credential_arrives_upstream_and_the_token_does_not() {
    let upstream = Upstream::start();
    let proxy = Proxy::start(&upstream, None).await;
    let body = r#"{"model":"claude","messages":[{"role":"user","content":"hi"}]}"#;
    let auth = bearer();
    let headers =
        [("authorization", auth.as_str()), ("content-type", "application/json"), ("anthropic-version", "2023-06-01")];
    let answer = request(proxy.port, "POST", "/anthropic/v1/messages?beta=true", &headers, body).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, r#"{"echo":"/v1/messages"}"#);

    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!((got.method.as_str(), got.target.as_str()), ("POST", "/v1/messages?beta=true"));
    assert_eq!(got.header("x-api-key"), Some(REAL), "the credential is added");
    assert_eq!(got.header("authorization"), None, "the token's header is gone");
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"), "the client's own headers pass");
    assert_eq!(got.header("host"), Some(format!("localhost:{}", upstream.port).as_str()));
    assert_eq!(got.body, body.as_bytes(), "the body passes unchanged");
    assert!(!got.all_text().contains(TOKEN), "the token never reaches the provider:\n{}", got.all_text());

    // Codex's provider: a bearer credential, under the upstream's base path.
    for headers in [[("authorization", auth.as_str())], [("x-api-key", TOKEN)]] {
        let answer = request(proxy.port, "POST", "/openai/responses", &headers, "{}").await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let seen = upstream.seen();
    for got in &seen[1..] {
        assert_eq!(got.target, "/v1/responses");
        assert_eq!(got.header("authorization"), Some(format!("Bearer {REAL}").as_str()));
        assert_eq!(got.header("x-api-key"), None);
        assert!(!got.all_text().contains(TOKEN));
    }
    assert_eq!(proxy.resolved.load(Ordering::SeqCst), 2, "each provider's credential is read once, then kept");

    let log = proxy.log();
    assert_eq!(log.len(), 3);
    let first = &log[0];
    assert_eq!(
        (first.vm.as_deref(), first.provider.as_deref(), first.method.as_str(), first.path.as_str(), first.status),
        (Some("blog"), Some("anthropic"), "POST", "/anthropic/v1/messages", 200)
    );
    assert_eq!(first.bytes, answer_len(r#"{"echo":"/v1/messages"}"#));
    let text = proxy.log_text();
    assert!(!text.contains(REAL) && !text.contains(TOKEN) && !text.contains("beta=true"), "{text}");
}

fn answer_len(text: &str) -> u64 {
    text.len() as u64
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_without_reaching_upstream() {
    let upstream = Upstream::start();
    let proxy = Proxy::start(&upstream, None).await;
    let wrong = format!("Bearer {}", TOKEN.replace('0', "1"));
    for headers in [vec![], vec![("authorization", wrong.as_str())], vec![("x-api-key", "sk-ant-guessed")]] {
        let answer = request(proxy.port, "POST", "/anthropic/v1/messages", &headers, "{}").await;
        assert_eq!(answer.status, 401, "{headers:?}: {answer:?}");
        assert!(answer.body.contains("machine_proxy_error") && answer.body.contains("registered VM's token"));
    }
    let auth = bearer();
    let answer = request(proxy.port, "GET", "/mistral/v1/models", &[("authorization", auth.as_str())], "").await;
    assert_eq!(answer.status, 404, "{answer:?}");
    let answer =
        request(proxy.port, "GET", "http://api.anthropic.com/v1/models", &[("authorization", &auth)], "").await;
    assert_eq!(answer.status, 400, "an absolute-form target is not forwarded: {answer:?}");
    assert!(upstream.seen().is_empty(), "nothing reached the upstream");
    assert_eq!(proxy.resolved.load(Ordering::SeqCst), 0, "the credential was not even read");

    // A VM's token stops working once it is forgotten, and works again once registered.
    assert!(proxy.control(Request::Forget { instance: "blog".into() }).await.ok);
    let answer = request(proxy.port, "GET", "/anthropic/v1/models", &[("authorization", &auth)], "").await;
    assert_eq!(answer.status, 401);
    let reply = proxy.control(Request::Register { instance: "blog".into() }).await;
    let status = reply.status.expect("a registration answers with the status");
    assert!(reply.ok && status.vms == ["blog"] && !status.fingerprint.is_empty(), "{status:?}");
    let answer = request(proxy.port, "GET", "/anthropic/v1/models", &[("authorization", &auth)], "").await;
    assert_eq!(answer.status, 200);
    let reply = proxy.control(Request::Register { instance: "../etc".into() }).await;
    assert!(!reply.ok && reply.error.unwrap().contains("not a Lima instance name"));

    let statuses: Vec<(Option<String>, u16)> = proxy.log().into_iter().map(|r| (r.vm, r.status)).collect();
    assert_eq!(statuses[..3], [(None, 401), (None, 401), (None, 401)]);
}

#[tokio::test]
async fn server_sent_events_stream_chunk_by_chunk() {
    let upstream = Upstream::start();
    let proxy = Proxy::start(&upstream, None).await;
    let auth = bearer();
    let response = tokio::time::timeout(
        HANG,
        upstream::send(proxy.port, "POST", "/anthropic/v1/sse", &[("authorization", auth.as_str())], "{}"),
    )
    .await
    .expect("the response's head arrives before its body is complete");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut got = Vec::new();
    // The upstream sends the second event only after the first is here: a buffering proxy
    // never delivers the first, and this waits for it in vain.
    while got.len() < EVENT_1.len() {
        let frame = tokio::time::timeout(HANG, body.frame()).await.expect("the first event arrives on its own");
        got.extend_from_slice(frame.unwrap().unwrap().data_ref().unwrap());
    }
    assert_eq!(String::from_utf8_lossy(&got), EVENT_1, "exactly the first event, before the second exists");
    upstream.release();
    let rest = tokio::time::timeout(HANG, body.collect()).await.unwrap().unwrap().to_bytes();
    assert_eq!(String::from_utf8_lossy(&rest), EVENT_2);
    let record = proxy.log().pop().expect("the stream is logged when it ends");
    assert_eq!((record.status, record.bytes), (200, (EVENT_1.len() + EVENT_2.len()) as u64));
}

/// The daemon's own resolver, with a credential command that fails.
fn failing_command_resolver() -> Resolver {
    Arc::new(|p| {
        let mut p = p.clone();
        p.sources = machine::compiler::config::proxy::Sources {
            command: Some(vec!["sh".into(), "-c".into(), "echo 'vault is locked' >&2; exit 3".into()]),
            ..Default::default()
        };
        let env = |_: &str| None;
        let runner = machine::driver::exec::SystemRunner::default();
        credential::resolve(&p, &Host { env: &env, runner: &runner, home: None, keychain: false })
    })
}

#[tokio::test]
async fn a_failing_credential_command_is_a_clear_error_and_never_reaches_upstream() {
    let upstream = Upstream::start();
    let proxy = Proxy::start(&upstream, Some(failing_command_resolver())).await;
    let auth = bearer();
    let answer = request(proxy.port, "POST", "/anthropic/v1/messages", &[("authorization", auth.as_str())], "{}").await;
    assert_eq!(answer.status, 502, "{answer:?}");
    assert!(answer.body.contains("the host has no usable credential for `anthropic`"), "{}", answer.body);
    assert!(answer.body.contains("machine proxy status --check"), "{}", answer.body);
    assert!(!answer.body.contains("vault"), "the guest is not told the host's details: {}", answer.body);
    assert!(upstream.seen().is_empty());

    // On the host, the status says which command failed and how.
    let status = proxy.control(Request::Status { check: true }).await.status.unwrap();
    let anthropic = status.providers.iter().find(|p| p.name == "anthropic").unwrap();
    assert!(
        anthropic.credential.contains("the credential command of provider `anthropic` failed: `sh -c")
            && anthropic.credential.contains("exit status 3: vault is locked"),
        "{}",
        anthropic.credential
    );
    assert_eq!(status.vms, ["blog"]);
}

#[tokio::test]
async fn an_upstream_401_makes_the_proxy_read_the_credential_again() {
    let upstream = Upstream::start();
    let proxy = Proxy::start(&upstream, None).await;
    let auth = bearer();
    let answer = request(proxy.port, "GET", "/anthropic/unauthorized", &[("authorization", auth.as_str())], "").await;
    assert_eq!(answer.status, 401, "the upstream's answer passes through");
    assert!(answer.body.contains("authentication_error"));
    request(proxy.port, "GET", "/anthropic/v1/models", &[("authorization", auth.as_str())], "").await;
    assert_eq!(proxy.resolved.load(Ordering::SeqCst), 2, "read again after the 401");
}

/// A 401 that arrives while another request is reading the credential is passed on at once
/// (not held back behind that reading), and the credential is still read again afterwards.
#[tokio::test]
async fn a_401_during_another_request_s_reading_is_answered_and_still_resets() {
    let upstream = Upstream::start();
    let (let_reading_end, reading_may_end) = std::sync::mpsc::channel::<()>();
    let reading_may_end = Arc::new(std::sync::Mutex::new(reading_may_end));
    let calls = Arc::new(AtomicUsize::new(0));
    let (counter, gate) = (Arc::clone(&calls), Arc::clone(&reading_may_end));
    let resolver: Resolver = Arc::new(move |_| {
        // The second reading lasts until the test lets it end.
        if counter.fetch_add(1, Ordering::SeqCst) == 1 {
            let _ = gate.lock().unwrap().recv();
        }
        Ok(Credential::new(REAL, "a test"))
    });
    let proxy = Proxy::start(&upstream, Some(resolver)).await;
    let port = proxy.port;
    let send = |path: &'static str| {
        tokio::spawn(async move { request(port, "GET", path, &[("authorization", &bearer())], "").await })
    };

    // The slow 401 is on its way upstream with the credential of the first reading.
    let slow = send("/anthropic/v1/slow/unauthorized");
    eventually("the slow request reaches the upstream", || upstream.seen().iter().any(|s| s.target.contains("/slow/")))
        .await;
    // A quick 401 resets it; the next request starts the second reading, which holds it.
    assert_eq!(send("/anthropic/unauthorized").await.unwrap().status, 401);
    let reading = send("/anthropic/v1/models");
    eventually("the second reading starts", || calls.load(Ordering::SeqCst) == 2).await;

    upstream.release();
    let answer = tokio::time::timeout(HANG, slow).await.expect("the 401 is not held back").unwrap();
    assert_eq!(answer.status, 401);
    let_reading_end.send(()).unwrap();
    assert_eq!(reading.await.unwrap().status, 200);
    eventually("the slow 401 is logged", || proxy.log().iter().filter(|r| r.status == 401).count() == 2).await;
    // The reading that was under way when the slow 401 came is not trusted: a third one.
    send("/anthropic/v1/models").await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "{}", proxy.log_text());
}

#[tokio::test]
async fn an_upstream_the_proxy_cannot_verify_is_refused() {
    let upstream = Upstream::start();
    let mut proxy = Proxy::start(&upstream, None).await;
    // Another CA than the one that signed the upstream's certificate.
    let other = Upstream::start();
    proxy.stop.take().map(|s| s.send(()));
    let dir = proxy.dir.path().to_path_buf();
    std::fs::write(dir.join("ca.pem"), &other.ca_pem).unwrap();
    let restarted = restart(&dir, &upstream).await;
    let auth = bearer();
    let answer = request(restarted, "GET", "/anthropic/v1/models", &[("authorization", auth.as_str())], "").await;
    assert_eq!(answer.status, 502, "{answer:?}");
    assert!(answer.body.contains("cannot reach localhost:"), "{}", answer.body);
    assert!(upstream.seen().is_empty(), "no request went over an unverified connection");
}

/// A second proxy on `dir`'s state and CA file (no control socket), returning its port.
async fn restart(dir: &Path, upstream: &Upstream) -> u16 {
    let mut settings = ProxySettings { ca_file: Some(dir.join("ca.pem")), ..ProxySettings::default() };
    for p in &mut settings.providers {
        p.upstream = UpstreamUrl::parse(&upstream.url()).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = server::Options {
        settings,
        state_dir: dir.join("state"),
        request_log: dir.join("requests-2.jsonl"),
        resolver: Arc::new(|_| Ok::<_, Error>(Credential::new(REAL, "a test"))),
        fingerprint: "test".into(),
        home: None,
        idle_exit: None,
        header_timeout: server::HEADER_TIMEOUT,
    };
    tokio::spawn(server::run(options, listener, None, std::future::pending(), || {}));
    port
}

/// Polls `done` until it holds, failing after [`HANG`].
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + HANG;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stop_takes_no_new_connections_and_lets_a_stream_in_flight_finish() {
    let upstream = Upstream::start();
    let proxy = Proxy::start(&upstream, None).await;
    let auth = bearer();
    let response =
        upstream::send(proxy.port, "POST", "/anthropic/v1/sse", &[("authorization", auth.as_str())], "{}").await;
    let mut body = response.into_body();
    let first = tokio::time::timeout(HANG, body.frame()).await.unwrap().unwrap().unwrap();
    assert_eq!(first.data_ref().unwrap().as_ref(), EVENT_1.as_bytes());

    assert!(proxy.control(Request::Stop).await.ok);
    eventually("the stopping server lets go of its port and lock", || proxy.released.load(Ordering::SeqCst)).await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", proxy.port)).await.is_err(), "no new connection");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!proxy.ended.load(Ordering::SeqCst), "the server waits for the stream in flight");

    upstream.release();
    let rest = tokio::time::timeout(HANG, body.collect()).await.unwrap().expect("the stream is not cut").to_bytes();
    assert_eq!(String::from_utf8_lossy(&rest), EVENT_2);
    eventually("the finished stream is logged", || proxy.log().iter().any(|r| r.status == 200)).await;
    eventually("the server ends once nothing is in flight", || proxy.ended.load(Ordering::SeqCst)).await;
}

#[tokio::test]
async fn a_guest_that_hangs_up_before_the_answer_is_logged() {
    use tokio::io::AsyncWriteExt as _;
    let upstream = Upstream::start();
    let proxy = Proxy::start(&upstream, None).await;
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
    let head = format!(
        "POST /anthropic/v1/slow HTTP/1.1\r\nhost: h\r\nauthorization: {}\r\ncontent-length: 2\r\n\r\n{{}}",
        bearer()
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    eventually("the request reaches the upstream", || upstream.seen().len() == 1).await;
    drop(raw);
    eventually("the abandoned request is logged", || !proxy.log().is_empty()).await;
    let record = proxy.log().pop().unwrap();
    assert_eq!(
        (record.vm.as_deref(), record.status, record.path.as_str()),
        (Some("blog"), server::GONE, "/anthropic/v1/slow")
    );
    upstream.release();
}

#[tokio::test]
async fn a_ping_does_not_wait_for_a_credential_being_read() {
    let upstream = Upstream::start();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let wait = std::sync::Mutex::new(wait);
    let entered = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&entered);
    // A credential command waiting for its user (a 1Password prompt, say).
    let slow: Resolver = Arc::new(move |_| {
        flag.store(true, Ordering::SeqCst);
        let _ = wait.lock().unwrap().recv_timeout(HANG);
        Ok(Credential::new(REAL, "a test"))
    });
    let proxy = Proxy::start(&upstream, Some(slow)).await;
    let port = proxy.port;
    let guest = tokio::spawn(async move {
        let auth = bearer();
        request(port, "GET", "/anthropic/v1/models", &[("authorization", auth.as_str())], "").await
    });
    eventually("the credential is being read", || entered.load(Ordering::SeqCst)).await;
    let status = tokio::time::timeout(HANG, proxy.control(Request::Ping)).await.expect("the ping is answered");
    let anthropic = status.status.unwrap().providers.into_iter().find(|p| p.name == "anthropic").unwrap();
    assert_eq!(anthropic.credential, "being read now");
    go.send(()).unwrap();
    assert_eq!(tokio::time::timeout(HANG, guest).await.unwrap().unwrap().status, 200);
}

#[tokio::test]
async fn idle_connections_are_closed_and_never_hold_every_slot() {
    use tokio::io::AsyncReadExt as _;
    let upstream = Upstream::start();
    let timeout = Duration::from_secs(1);
    let proxy = Proxy::start_with(&upstream, None, timeout).await;
    let mut idle = Vec::new();
    for _ in 0..server::MAX_CONNECTIONS {
        idle.push(tokio::net::TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Every slot is taken: this one waits until the silent connections are closed.
    let started = std::time::Instant::now();
    let auth = bearer();
    let answer = tokio::time::timeout(
        HANG,
        request(proxy.port, "GET", "/anthropic/v1/models", &[("authorization", auth.as_str())], ""),
    )
    .await
    .expect("answered once the idle connections are gone");
    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= timeout / 2, "it waited for a slot ({:?})", started.elapsed());
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(HANG, idle[0].read(&mut byte)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "a connection that sent nothing is closed: {read:?}");
}
