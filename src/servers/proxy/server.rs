//! The proxy itself: HTTP/1.1 from the guests on 127.0.0.1, HTTPS to the providers. Each
//! request is routed and checked by [`super::route`]; request and response bodies are passed
//! through frame by frame as they arrive (server-sent events reach the guest unbuffered).

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, UnixListener, UnixStream};

use super::control::{self, ProviderStatus, Reply};
use super::credential::Credential;
use super::log::{self, Record};
use super::route::{self, Refusal};
use super::token::{self, Registry};
use crate::compiler::config::proxy::{Provider, ProxySettings};
use crate::error::{Error, Result};

/// Resolves a provider's credential (blocking: it may run a program).
pub type Resolver = Arc<dyn Fn(&Provider) -> Result<Credential> + Send + Sync>;

type ResponseBody = BoxBody<Bytes, hyper::Error>;

/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Guest connections served at once; more wait in the kernel's backlog, so a guest cannot take
/// every file descriptor the daemon has.
pub const MAX_CONNECTIONS: usize = 128;

/// How long a guest may take to send a request's headers (also how long an idle keep-alive
/// connection stays open): the daemon's [`Options::header_timeout`].
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the pause after a failed accept is, and how often the failure is written down.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);
const ACCEPT_REPORT_EVERY: Duration = Duration::from_mins(1);

/// How long a stopping daemon lets the answers in flight run on (a long streamed answer).
const DRAIN_LIMIT: Duration = Duration::from_mins(10);

pub struct Options {
    pub settings: ProxySettings,
    /// Where the VMs' token files are (`<state>/<instance>/proxy-token.json`).
    pub state_dir: PathBuf,
    /// The request log (`requests.jsonl`).
    pub request_log: PathBuf,
    pub resolver: Resolver,
    pub fingerprint: String,
    /// The home the `ca_file` setting's `~` stands for.
    pub home: Option<PathBuf>,
    /// End once no VM has been registered for this long (the daemon: `up`, `claude` and
    /// `codex` start it again); `None` serves until stopped.
    pub idle_exit: Option<Duration>,
    /// [`HEADER_TIMEOUT`], but for tests.
    pub header_timeout: Duration,
}

/// How often the server looks whether it still has VMs.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Whether the server has had no VM for `grace`, given whether it has none now; `empty_since`
/// carries when it last found itself without one.
fn idle_ended(empty: bool, empty_since: &mut Option<Instant>, now: Instant, grace: Duration) -> bool {
    if !empty {
        *empty_since = None;
        return false;
    }
    now.duration_since(*empty_since.get_or_insert(now)) >= grace
}

enum Cached {
    Unread,
    Read(Credential),
    Failed(String),
}

struct Shared {
    settings: ProxySettings,
    state_dir: PathBuf,
    registry: RwLock<Registry>,
    credentials: Vec<tokio::sync::Mutex<Cached>>,
    /// Whether a provider's credential source is being asked just now (its mutex is then held
    /// for as long as that takes).
    reading: Vec<std::sync::atomic::AtomicBool>,
    client: Client<HttpsConnector<HttpConnector>, Incoming>,
    log: log::Writer,
    resolver: Resolver,
    fingerprint: String,
    header_timeout: Duration,
    port: u16,
    started: u64,
    stop: tokio::sync::Notify,
}

/// Serves until `shutdown` completes or a client sends `stop` on the control socket; then
/// closes both listeners, calls `release` and lets the requests in flight finish (at most
/// [`DRAIN_LIMIT`]).
pub async fn run(
    options: Options,
    listener: TcpListener,
    control: Option<UnixListener>,
    shutdown: impl Future<Output = ()>,
    release: impl FnOnce(),
) -> Result<()> {
    let tls = tls_config(&options)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let port =
        listener.local_addr().map_err(|e| Error::failure("cannot read the proxy's address").caused_by(e))?.port();
    let shared = Arc::new(Shared {
        registry: RwLock::new(Registry::load(&options.state_dir)),
        credentials: options.settings.providers.iter().map(|_| tokio::sync::Mutex::new(Cached::Unread)).collect(),
        reading: options.settings.providers.iter().map(|_| std::sync::atomic::AtomicBool::new(false)).collect(),
        client: Client::builder(TokioExecutor::new()).build(https),
        log: log::Writer::new(options.request_log),
        settings: options.settings,
        state_dir: options.state_dir,
        resolver: options.resolver,
        fingerprint: options.fingerprint,
        header_timeout: options.header_timeout,
        port,
        started: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        stop: tokio::sync::Notify::new(),
    });
    tokio::pin!(shutdown);
    let (idle_exit, mut tick, mut empty_since) = (options.idle_exit, tokio::time::interval(CHECK_EVERY), None);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let (draining, drain_signal) = tokio::sync::watch::channel(false);
    let mut failed_accepts = Failures::default();
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = shared.stop.notified() => break,
            _ = tick.tick(), if idle_exit.is_some() => {
                let empty = shared.registry.read().is_ok_and(|r| r.is_empty());
                let grace = idle_exit.unwrap_or_default();
                if idle_ended(empty, &mut empty_since, Instant::now(), grace) {
                    eprintln!("no VM has used the proxy for {} s: stopping", grace.as_secs());
                    break;
                }
            }
            (slot, accepted) = accept_guest(&listener, &slots) => match accepted {
                Ok(stream) => {
                    failed_accepts.ended();
                    tokio::spawn(serve_guest(Arc::clone(&shared), stream, slot, drain_signal.clone()));
                }
                Err(e) => failed_accepts.failed("a connection", &e).await,
            },
            accepted = accept_control(control.as_ref()) => match accepted {
                Ok(stream) => {
                    tokio::spawn(answer_control(Arc::clone(&shared), stream));
                }
                Err(e) => failed_accepts.failed("a control connection", &e).await,
            },
        }
    }
    drop((listener, control));
    release();
    let _ = draining.send(true);
    let in_flight = MAX_CONNECTIONS - slots.available_permits();
    if in_flight > 0 {
        eprintln!("letting {in_flight} connection(s) finish their requests");
        let all = u32::try_from(MAX_CONNECTIONS).expect("a small number");
        if tokio::time::timeout(DRAIN_LIMIT, slots.acquire_many(all)).await.is_err() {
            eprintln!("requests still running after {} s: ending them", DRAIN_LIMIT.as_secs());
        }
    }
    Ok(())
}

/// A guest connection, once one of [`MAX_CONNECTIONS`] slots is free.
async fn accept_guest(
    listener: &TcpListener,
    slots: &Arc<tokio::sync::Semaphore>,
) -> (tokio::sync::OwnedSemaphorePermit, std::io::Result<tokio::net::TcpStream>) {
    let slot = Arc::clone(slots).acquire_owned().await.expect("the semaphore is never closed");
    (slot, listener.accept().await.map(|(stream, _)| stream))
}

/// Serves one guest connection; when the daemon stops, the request in flight finishes and the
/// connection then closes.
async fn serve_guest(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    _slot: tokio::sync::OwnedSemaphorePermit,
    mut draining: tokio::sync::watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(shared.header_timeout);
    let service = hyper::service::service_fn(move |req| handle(Arc::clone(&shared), req));
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        // The guard `wait_for` returns must not live across the await below.
        () = async { drop(draining.wait_for(|stopping| *stopping).await) } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Failed accepts (no file descriptor left, say): each one pauses the loop for
/// [`ACCEPT_BACKOFF`], and the daemon's log gets one line per [`ACCEPT_REPORT_EVERY`].
#[derive(Default)]
struct Failures {
    reported: Option<Instant>,
    unreported: u64,
}

impl Failures {
    async fn failed(&mut self, what: &str, e: &std::io::Error) {
        if self.reported.is_none_or(|at| at.elapsed() >= ACCEPT_REPORT_EVERY) {
            let more = match self.unreported {
                0 => String::new(),
                n => format!(" ({n} more failures since the last report)"),
            };
            eprintln!("accepting {what} failed: {e}{more}");
            (self.reported, self.unreported) = (Some(Instant::now()), 0);
        } else {
            self.unreported += 1;
        }
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }

    fn ended(&mut self) {
        if self.unreported > 0 {
            eprintln!("accepting works again ({} failures since the last report)", self.unreported);
        }
        (self.reported, self.unreported) = (None, 0);
    }
}

async fn accept_control(control: Option<&UnixListener>) -> std::io::Result<UnixStream> {
    match control {
        Some(listener) => listener.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}

/// The system's roots plus the `ca_file` setting's certificates.
fn tls_config(options: &Options) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(file) = &options.settings.ca_file {
        let path = crate::compiler::paths::expand_tilde(file, options.home.as_deref());
        let bad = |why: String| {
            Error::usage(format!("cannot use the CA file {} of `[proxy] ca_file`", path.display()))
                .caused_by(why)
                .hint("name a file of PEM certificates (`-----BEGIN CERTIFICATE-----`)")
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("it holds no certificate".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(Error::failure("no root certificates for the providers' TLS")
            .caused_by("the system's certificate store is empty or unreadable")
            .hint("install your system's CA certificates (e.g. `ca-certificates`), or set `[proxy] ca_file`"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::failure("cannot set up TLS").caused_by(e))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<ResponseBody>, Infallible> {
    // The whole target: an absolute-form `http://elsewhere/` must not pass as its path.
    let target = req.uri().to_string();
    let mut record = Record::new(None, None, req.method().as_str(), &target);
    let (index, rest) = match route::split_target(&shared.settings.providers, &target) {
        Ok((provider, rest)) => (shared.index_of(provider), rest),
        Err(refusal) => return Ok(shared.refuse(record, &refusal)),
    };
    let provider = &shared.settings.providers[index];
    record.provider = Some(provider.name.clone());
    let vm = route::presented_token(req.headers(), provider)
        .and_then(|t| shared.registry.read().ok().and_then(|r| r.find(&t).map(str::to_string)));
    let Some(vm) = vm else {
        let refusal = Refusal {
            status: 401,
            message: "this proxy takes only a registered VM's token (as machine sets it in the VM's environment)"
                .into(),
        };
        return Ok(shared.refuse(record, &refusal));
    };
    record.vm = Some(vm);
    // From here on the guest may hang up while machine waits (for the credential, for the
    // upstream's answer); the request is logged then too.
    let mut pending = Pending { record: Some(record), shared: Arc::clone(&shared) };
    let credential = match shared.credential(index).await {
        Ok(c) => c,
        Err(message) => return Ok(shared.refuse(pending.take(), &Refusal { status: 502, message })),
    };
    let headers = route::request_headers(req.headers(), provider, &credential);
    let (parts, body) = req.into_parts();
    let mut upstream = Request::new(body);
    *upstream.method_mut() = parts.method;
    *upstream.headers_mut() = headers;
    match route::upstream_uri(provider, &rest).parse() {
        Ok(uri) => *upstream.uri_mut() = uri,
        Err(_) => {
            return Ok(shared.refuse(pending.take(), &Refusal { status: 400, message: "a malformed path".into() }));
        }
    }
    let answered = shared.client.request(upstream).await;
    match answered {
        Ok(response) => {
            if response.status() == StatusCode::UNAUTHORIZED {
                forget_credential(&shared, index);
            }
            let mut record = pending.take();
            let (parts, body) = response.into_parts();
            record.status = parts.status.as_u16();
            let mut out = Response::new(Logged { inner: body, record: Some(record), shared }.boxed());
            *out.status_mut() = parts.status;
            *out.headers_mut() = route::response_headers(&parts.headers);
            Ok(out)
        }
        Err(e) => {
            let why = error_chain(&e);
            eprintln!("{}: cannot reach {}: {why}", provider.name, provider.upstream.authority());
            let message = format!("machine proxy: cannot reach {}: {why}", provider.upstream.authority());
            Ok(shared.refuse(pending.take(), &Refusal { status: 502, message }))
        }
    }
}

/// After an upstream 401 (a revoked key, an expired login): read the credential again for the
/// next request. Never waits here: while another request reads it, a task of its own resets it
/// once that reading ends (the guest must get its 401 meanwhile, and a guest that hangs up must
/// not cancel the reset).
fn forget_credential(shared: &Arc<Shared>, index: usize) {
    if let Ok(mut slot) = shared.credentials[index].try_lock() {
        *slot = Cached::Unread;
        return;
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move { *shared.credentials[index].lock().await = Cached::Unread });
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Shared {
    fn index_of(&self, provider: &Provider) -> usize {
        self.settings.providers.iter().position(|p| p.name == provider.name).expect("a provider of these settings")
    }

    /// An answer from the proxy itself, in the shape of the providers' JSON errors.
    fn refuse(&self, mut record: Record, refusal: &Refusal) -> Response<ResponseBody> {
        record.status = refusal.status;
        let body = serde_json::json!({
            "type": "error",
            "error": {"type": "machine_proxy_error", "message": refusal.message},
        })
        .to_string();
        record.bytes = body.len() as u64;
        self.log.write(&record);
        let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
        *response.status_mut() = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_GATEWAY);
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, "application/json".parse().expect("valid"));
        response
    }

    /// The provider's credential: the one read earlier unless it expired, else read now (one
    /// reading at a time per provider). `Err` is the message for the guest: it never quotes a
    /// command, a path or a program's output (the daemon's own log has the whole error).
    async fn credential(&self, index: usize) -> std::result::Result<Credential, String> {
        let mut slot = self.credentials[index].lock().await;
        if let Cached::Read(c) = &*slot
            && !c.expired(SystemTime::now())
        {
            return Ok(c.clone());
        }
        let provider = self.settings.providers[index].clone();
        let resolver = Arc::clone(&self.resolver);
        let name = provider.name.clone();
        let outcome = {
            // Cleared however this ends (a guest that hangs up drops this future mid-read).
            let _reading = Flag::raise(&self.reading[index]);
            tokio::task::spawn_blocking(move || resolver(&provider)).await
        };
        match outcome {
            Ok(Ok(credential)) => {
                *slot = Cached::Read(credential.clone());
                Ok(credential)
            }
            Ok(Err(e)) => {
                eprintln!("{e}");
                *slot = Cached::Failed(e.to_string());
                Err(format!(
                    "machine proxy: the host has no usable credential for `{name}`; run `machine proxy status --check` on the host to see why"
                ))
            }
            Err(e) => Err(format!("machine proxy: reading the credential for `{name}` failed: {e}")),
        }
    }

    /// What the daemon knows. With `check`, every provider's credential is read first, all at
    /// once (each source is time-boxed); without, a credential being read just now is said so
    /// rather than waited for (a ping must not wait for a 1Password prompt).
    async fn status(self: &Arc<Self>, check: bool) -> control::Status {
        if check {
            let mut reads = tokio::task::JoinSet::new();
            for index in 0..self.settings.providers.len() {
                let shared = Arc::clone(self);
                reads.spawn(async move { drop(shared.credential(index).await) });
            }
            while reads.join_next().await.is_some() {}
        }
        let mut providers = Vec::new();
        for (index, p) in self.settings.providers.iter().enumerate() {
            let describe = |cached: &Cached| match cached {
                Cached::Unread => "not read yet".to_string(),
                Cached::Read(c) => format!("ok ({})", c.source),
                Cached::Failed(e) => e.strip_prefix("error: ").unwrap_or(e).to_string(),
            };
            let reading = || self.reading[index].load(std::sync::atomic::Ordering::SeqCst);
            let being_read = "being read now".to_string();
            let credential = match self.credentials[index].try_lock() {
                Ok(cached) => describe(&cached),
                Err(_) if reading() => being_read,
                // A cache hit holds it for a moment; a read that began just now, longer.
                Err(_) => tokio::time::timeout(Duration::from_secs(1), self.credentials[index].lock())
                    .await
                    .map_or(being_read, |cached| describe(&cached)),
            };
            let upstream = format!("https://{}{}", p.upstream.authority(), p.upstream.base_path);
            providers.push(ProviderStatus { name: p.name.clone(), upstream, credential });
        }
        control::Status {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            fingerprint: self.fingerprint.clone(),
            port: self.port,
            started: self.started,
            vms: self.registry.read().map(|r| r.instances()).unwrap_or_default(),
            providers,
        }
    }

    async fn answer(self: &Arc<Self>, request: control::Request) -> Reply {
        use control::Request as R;
        match request {
            R::Ping => Reply::ok(Some(self.status(false).await)),
            R::Status { check } => Reply::ok(Some(self.status(check).await)),
            R::Stop => Reply::ok(None),
            R::Register { instance } | R::Forget { instance }
                if crate::compiler::config::model::check_instance_name(&instance).is_err() =>
            {
                Reply::error(format!("`{instance}` is not a Lima instance name"))
            }
            R::Register { instance } => match token::read(&token::path(&self.state_dir, &instance)) {
                Ok(Some(file)) => {
                    self.registry.write().expect("not poisoned").insert(&instance, file.token);
                    // With the status a client needs no ping first to know whom it registered with.
                    Reply::ok(Some(self.status(false).await))
                }
                Ok(None) => Reply::error(format!("VM `{instance}` has no token file")),
                Err(e) => Reply::error(e.to_string()),
            },
            R::Forget { instance } => {
                self.registry.write().expect("not poisoned").remove(&instance);
                Reply::ok(None)
            }
        }
    }
}

async fn answer_control(shared: Arc<Shared>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    if tokio::io::BufReader::new(read).read_line(&mut line).await.is_err() {
        return;
    }
    let request = serde_json::from_str::<control::Request>(&line);
    let stop = matches!(request, Ok(control::Request::Stop));
    let reply = match request {
        Ok(request) => shared.answer(request).await,
        Err(e) => Reply::error(format!("not a request: {e}")),
    };
    let mut text = serde_json::to_string(&reply).expect("plain data serialises");
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
    let _ = write.shutdown().await;
    if stop {
        shared.stop.notify_one();
    }
}

/// Raised while it lives.
struct Flag<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Flag<'a> {
    fn raise(flag: &'a std::sync::atomic::AtomicBool) -> Self {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        Self(flag)
    }
}

impl Drop for Flag<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A request's log record while machine waits on its behalf: written with [`GONE`] when the
/// guest hangs up first (hyper then drops the handler).
struct Pending {
    record: Option<Record>,
    shared: Arc<Shared>,
}

/// The status logged for a request whose guest went away before the answer came (nginx's
/// "client closed request").
pub const GONE: u16 = 499;

impl Pending {
    fn take(&mut self) -> Record {
        self.record.take().expect("taken once")
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.status = GONE;
            self.shared.log.write(&record);
        }
    }
}

/// The upstream's response body on its way to the guest: counted, logged once it ends (or the
/// guest goes away), each frame passed on as it arrives.
struct Logged {
    inner: Incoming,
    record: Option<Record>,
    shared: Arc<Shared>,
}

impl Logged {
    fn finish(&mut self) {
        if let Some(record) = self.record.take() {
            self.shared.log.write(&record);
        }
    }
}

impl Body for Logged {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(record)) = (frame.data_ref(), this.record.as_mut()) {
                    record.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None | Some(Err(_))) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_ends_only_after_a_whole_grace_without_vms() {
        let (start, grace) = (Instant::now(), Duration::from_mins(10));
        let mut since = None;
        assert!(!idle_ended(true, &mut since, start, grace), "the first look without VMs starts the clock");
        assert!(!idle_ended(true, &mut since, start + Duration::from_secs(599), grace));
        assert!(!idle_ended(false, &mut since, start + Duration::from_secs(599), grace), "a VM came");
        assert!(!idle_ended(true, &mut since, start + Duration::from_secs(700), grace), "the clock starts again");
        assert!(idle_ended(true, &mut since, start + Duration::from_secs(1300), grace));
    }
}
