//! One connection to a VM's scoped agent: requests in, answers out, in front of the host's
//! real agent.
//!
//! Messages are ssh-agent protocol messages, decoded and encoded by `ssh-agent-lib`; this file
//! only reads and writes their length-prefixed frames, so that a message the library cannot
//! decode is answered `SSH_AGENT_FAILURE` instead of closing the connection, and a frame is
//! never larger than OpenSSH's own agent accepts. The agent lists the keys in scope, signs
//! with them, and answers every other request `SSH_AGENT_FAILURE`:
//!
//! - add, remove, remove-all, smartcard, lock and unlock requests would change or lock the
//!   user's own agent from inside the VM;
//! - extensions, including `session-bind@openssh.com`, which every OpenSSH client (the host's
//!   ssh master and the guest's ssh alike) sends before it uses an agent. Clients go on without
//!   the binding: it only matters to keys added with destination constraints (`ssh-add -h`),
//!   which the host's agent then refuses to use on the scoped agent's connections at all.
//!
//! Every signature request, made or refused, and every other refused request (but
//! session-bind, which is routine) is logged.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use ssh_agent_lib::blocking::Client;
use ssh_agent_lib::proto::extension::SessionBind;
use ssh_agent_lib::proto::{Extension, Identity, PublicCredential, Request, Response, SignRequest};
use ssh_agent_lib::ssh_encoding::{Decode, Encode};
use ssh_agent_lib::ssh_key::{HashAlg, Signature};

use super::confirm::Confirmed;
use super::log::{Decision, Entry};
use super::policy::Policy;
use super::signed_data::SignedData;

/// The largest message accepted, as OpenSSH's ssh-agent (`AGENT_MAX_LEN`).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// The extension OpenSSH clients send to bind an agent connection to an ssh session.
pub const SESSION_BIND: &str = "session-bind@openssh.com";

/// The host's real agent, as the scoped agent uses it.
pub trait Upstream {
    fn identities(&mut self) -> Result<Vec<Identity>, String>;
    fn sign(&mut self, request: &SignRequest) -> Result<Signature, String>;
}

/// The real agent at a socket, connected on first use (and again after an error).
pub struct AgentSocket {
    path: Option<PathBuf>,
    client: Option<Client<UnixStream>>,
}

impl AgentSocket {
    pub fn new(path: Option<PathBuf>) -> Self {
        Self { path, client: None }
    }

    fn client(&mut self) -> Result<&mut Client<UnixStream>, String> {
        if self.client.is_none() {
            let path = self.path.as_ref().ok_or("the host has no SSH agent (no SSH_AUTH_SOCK, no 1Password agent)")?;
            let stream = UnixStream::connect(path)
                .map_err(|e| format!("cannot reach the host's agent at {}: {e}", path.display()))?;
            self.client = Some(Client::new(stream));
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Client<UnixStream>) -> Result<T, ssh_agent_lib::error::AgentError>,
    ) -> Result<T, String> {
        let result = f(self.client()?);
        if result.is_err() {
            // A refusal or a broken connection: the next request starts a fresh one.
            self.client = None;
        }
        result.map_err(|e| format!("the host's agent did not {what}: {e}"))
    }
}

impl Upstream for AgentSocket {
    fn identities(&mut self) -> Result<Vec<Identity>, String> {
        self.call("list its keys", Client::request_identities)
    }

    fn sign(&mut self, request: &SignRequest) -> Result<Signature, String> {
        self.call("sign", |c| c.sign(request.clone()))
    }
}

/// Answers one connection's requests.
pub struct Handler<'a> {
    pub policy: &'a Policy,
    pub upstream: &'a mut dyn Upstream,
    /// Asks the user about a signature (only with `confirm_signatures`).
    pub confirm: &'a dyn Fn(&str) -> Confirmed,
    pub log: &'a dyn Fn(&Entry),
}

impl Handler<'_> {
    /// The answer to one frame's message.
    pub fn handle_frame(&mut self, frame: &[u8]) -> Response {
        match Request::decode(&mut &frame[..]) {
            Ok(request) => self.handle(request),
            Err(e) => {
                let kind = frame.first().map_or_else(|| "an empty message".to_string(), |t| format!("type {t}"));
                tracing::debug!("refused a message the agent protocol library cannot read ({kind}): {e}");
                (self.log)(&Entry::refused_request(&self.policy.vm, &format!("message {kind}")));
                Response::Failure
            }
        }
    }

    pub fn handle(&mut self, request: Request) -> Response {
        match request {
            Request::RequestIdentities => self.list(),
            Request::SignRequest(request) => self.sign(&request),
            Request::Extension(ext) if ext.name == SESSION_BIND => {
                tracing::debug!("refused {SESSION_BIND} ({})", describe_bind(&ext));
                Response::Failure
            }
            other => {
                (self.log)(&Entry::refused_request(&self.policy.vm, &request_name(&other)));
                Response::Failure
            }
        }
    }

    fn list(&mut self) -> Response {
        match self.upstream.identities() {
            Ok(ids) => {
                let scope = self.policy.scope();
                Response::IdentitiesAnswer(
                    ids.into_iter().filter(|id| scope.allows(&fingerprint(&id.credential), &id.comment)).collect(),
                )
            }
            Err(why) => {
                tracing::warn!("{why}");
                Response::Failure
            }
        }
    }

    fn sign(&mut self, request: &SignRequest) -> Response {
        let key = fingerprint(&request.credential);
        let entry = Entry::signature(&self.policy.vm, &key, &SignedData::classify(&request.data));
        let (response, entry) = self.decide_and_sign(request, &key, entry);
        (self.log)(&entry);
        response
    }

    fn decide_and_sign(&mut self, request: &SignRequest, key: &str, mut entry: Entry) -> (Response, Entry) {
        let refuse = |entry: Entry, decision, why: &str| (Response::Failure, entry.decided(decision, Some(why.into())));
        let comment = match self.upstream.identities() {
            Ok(ids) => ids.into_iter().find(|id| id.credential == request.credential).map(|id| id.comment),
            Err(why) => return refuse(entry, Decision::Failed, &why),
        };
        let Some(comment) = comment else {
            return refuse(entry, Decision::Refused, "the host's agent does not hold this key");
        };
        entry.comment = Some(comment.clone());
        if !self.policy.scope().allows(key, &comment) {
            return refuse(entry, Decision::Refused, "the key is not in the project's ssh_keys");
        }
        if self.policy.confirm {
            match (self.confirm)(&question(self.policy, &entry)) {
                Confirmed::Allowed => entry.confirmed = true,
                Confirmed::Denied(why) => return refuse(entry, Decision::Denied, &why),
            }
        }
        match self.upstream.sign(request) {
            Ok(signature) => (Response::SignResponse(signature), entry.decided(Decision::Signed, None)),
            Err(why) => refuse(entry, Decision::Failed, &why),
        }
    }
}

/// The SHA256 fingerprint `ssh-add -l` prints (a certificate's is its key's).
pub fn fingerprint(credential: &PublicCredential) -> String {
    credential.key_data().fingerprint(HashAlg::Sha256).to_string()
}

/// What the confirmation dialog asks; each field is escaped to one line (some came from the
/// guest, which must not add lines of its own to the question).
fn question(policy: &Policy, entry: &Entry) -> String {
    use crate::ui::escape::one_line;
    let key = one_line(entry.key.as_deref().unwrap_or("?")).into_owned();
    let comment = one_line(entry.comment.as_deref().unwrap_or("")).into_owned();
    format!(
        "VM {} asks to sign with your key {key} ({comment}):\n\n{}\n\nAllow this signature?",
        one_line(&policy.vm),
        one_line(&entry.what())
    )
}

/// A session-bind's host key and purpose, for the daemon's own log.
fn describe_bind(ext: &Extension) -> String {
    match ext.parse_message::<SessionBind>() {
        Ok(Some(bind)) => format!(
            "host key {}, {}",
            bind.host_key.fingerprint(HashAlg::Sha256),
            if bind.is_forwarding { "for forwarding" } else { "for authentication" }
        ),
        _ => "unreadable".into(),
    }
}

/// The request's name in the log.
fn request_name(request: &Request) -> String {
    match request {
        Request::RequestIdentities => "list".into(),
        Request::SignRequest(_) => "sign".into(),
        Request::AddIdentity(_) => "add-identity".into(),
        Request::AddIdConstrained(_) => "add-identity-constrained".into(),
        Request::RemoveIdentity(_) => "remove-identity".into(),
        Request::RemoveAllIdentities => "remove-all-identities".into(),
        Request::AddSmartcardKey(_) => "add-smartcard-key".into(),
        Request::AddSmartcardKeyConstrained(_) => "add-smartcard-key-constrained".into(),
        Request::RemoveSmartcardKey(_) => "remove-smartcard-key".into(),
        Request::Lock(_) => "lock".into(),
        Request::Unlock(_) => "unlock".into(),
        Request::Extension(ext) => format!("extension {}", ext.name.chars().take(100).collect::<String>()),
    }
}

/// Reads one message: `None` at the end of the connection. A frame larger than
/// [`MAX_MESSAGE`] ends the connection (its remainder could not be skipped safely).
pub fn read_frame(stream: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a {len}-byte message is too large")));
    }
    let mut frame = vec![0u8; len];
    stream.read_exact(&mut frame)?;
    Ok(Some(frame))
}

/// Writes one answer, length-prefixed.
pub fn write_response(stream: &mut impl Write, response: &Response) -> io::Result<()> {
    let mut bytes = Vec::new();
    response.encode_prefixed(&mut bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    stream.write_all(&bytes)
}

/// How long the rest of a message may take once its first byte came. A connection may wait for
/// its next message as long as it likes (an ssh session's agent channel does), but one that
/// stops halfway through a message holds one of the daemon's few connections.
pub const FRAME_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The connection's next message: waits for its first byte as long as it takes, then for the
/// rest at most `within`.
pub fn next_frame(stream: &mut UnixStream, within: std::time::Duration) -> io::Result<Option<Vec<u8>>> {
    stream.set_read_timeout(None)?;
    let mut first = [0u8; 1];
    loop {
        match stream.read(&mut first) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let until = std::time::Instant::now() + within;
    let mut rest = (&first[..]).chain(Deadline { stream, until });
    match read_frame(&mut rest)? {
        Some(frame) => Ok(Some(frame)),
        None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection ended inside a message")),
    }
}

/// Reads that all end by `until`: one deadline for a whole message, however it is sliced.
struct Deadline<'a> {
    stream: &'a mut UnixStream,
    until: std::time::Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the rest of the message took too long"));
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Answers requests until the client hangs up.
pub fn serve_connection(stream: &mut UnixStream, handler: &mut Handler<'_>) {
    loop {
        let frame = match next_frame(stream, FRAME_WITHIN) {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!("closing a connection: {e}");
                return;
            }
        };
        if let Err(e) = write_response(stream, &handler.handle_frame(&frame)) {
            tracing::info!("closing a connection: {e}");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_agent_lib::proto::Unparsed;
    use ssh_agent_lib::ssh_key::public::KeyData;
    use ssh_agent_lib::ssh_key::{Algorithm, PublicKey};
    use std::cell::RefCell;

    const KEYS: [&str; 3] = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEX0DL3E1z/7hDjdZp5XKTLNYQ+vN9mtNztuSldPQwi5 one",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVrGonbVNem/Wp50ybGK4ijSLcWwLEukAC5GAc5lrXK two",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAp/9s3yUitNv8g9oPJ+4+TDhFwr/Wdpt2s0ssdqZ7WT three",
    ];

    fn key(i: usize) -> (KeyData, String) {
        let key: PublicKey = KEYS[i].parse().unwrap();
        (key.key_data().clone(), key.comment().to_string())
    }

    /// An agent holding the three keys; it signs anything and counts what it signed.
    #[derive(Default)]
    struct FakeUpstream {
        signed: usize,
        down: bool,
    }

    impl Upstream for FakeUpstream {
        fn identities(&mut self) -> Result<Vec<Identity>, String> {
            if self.down {
                return Err("no agent".into());
            }
            Ok((0..3).map(|i| Identity { credential: key(i).0.into(), comment: key(i).1 }).collect())
        }
        fn sign(&mut self, _: &SignRequest) -> Result<Signature, String> {
            self.signed += 1;
            Ok(Signature::new(Algorithm::Ed25519, vec![0; 64]).unwrap())
        }
    }

    fn policy(keys: &[&str], confirm: bool) -> Policy {
        Policy {
            vm: "blog".into(),
            upstream: None,
            keys: vec![keys.iter().map(ToString::to_string).collect()],
            confirm,
            lima_dir: PathBuf::new(),
        }
    }

    fn sign_request(i: usize, data: &[u8]) -> Request {
        Request::SignRequest(SignRequest { credential: key(i).0.into(), data: data.to_vec(), flags: 0 })
    }

    /// Runs `requests` through a handler; returns the answers, the log and how often upstream signed.
    fn run(policy: &Policy, answer: &Confirmed, requests: Vec<Request>) -> (Vec<Response>, Vec<Entry>, usize) {
        let log = RefCell::new(Vec::new());
        let mut upstream = FakeUpstream::default();
        let confirm = |_: &str| answer.clone();
        let append = |e: &Entry| log.borrow_mut().push(e.clone());
        let mut handler = Handler { policy, upstream: &mut upstream, confirm: &confirm, log: &append };
        let answers = requests.into_iter().map(|r| handler.handle(r)).collect();
        (answers, log.into_inner(), upstream.signed)
    }

    #[test]
    fn it_lists_and_signs_only_the_keys_in_scope() {
        let policy = policy(&["one", &fingerprint(&key(2).0.into())], false);
        let (answers, log, signed) = run(
            &policy,
            &Confirmed::Allowed,
            vec![Request::RequestIdentities, sign_request(0, b"x"), sign_request(1, b"y")],
        );
        let Response::IdentitiesAnswer(ids) = &answers[0] else { panic!("{answers:?}") };
        let comments: Vec<&str> = ids.iter().map(|i| i.comment.as_str()).collect();
        assert_eq!(comments, ["one", "three"], "by comment and by fingerprint");
        assert!(matches!(answers[1], Response::SignResponse(_)));
        assert_eq!(answers[2], Response::Failure, "key two is out of scope");
        assert_eq!(signed, 1, "the host's agent never saw the refused request");
        assert_eq!(log.len(), 2, "every signature request is logged");
        assert_eq!((log[0].decision, log[0].comment.as_deref()), (Decision::Signed, Some("one")));
        assert_eq!(log[1].decision, Decision::Refused);
        assert_eq!(log[1].reason.as_deref(), Some("the key is not in the project's ssh_keys"));
    }

    #[test]
    fn management_requests_and_extensions_are_refused_and_session_bind_quietly() {
        let everything = policy(&[], false);
        let everything = Policy { keys: Vec::new(), ..everything };
        let ext = |name: &str| Request::Extension(Extension { name: name.into(), details: Unparsed::from(vec![1, 2]) });
        let requests = vec![
            Request::RemoveAllIdentities,
            Request::Lock("pw".into()),
            Request::Unlock("pw".into()),
            Request::RemoveIdentity(ssh_agent_lib::proto::RemoveIdentity { credential: key(0).0.into() }),
            ext("query"),
            ext(SESSION_BIND),
        ];
        let (answers, log, _) = run(&everything, &Confirmed::Allowed, requests);
        assert!(answers.iter().all(|a| *a == Response::Failure), "{answers:?}");
        let logged: Vec<&str> = log.iter().map(|e| e.request.as_str()).collect();
        assert_eq!(logged, ["remove-all-identities", "lock", "unlock", "remove-identity", "extension query"]);
        assert!(log.iter().all(|e| e.decision == Decision::Refused));
    }

    #[test]
    fn a_denied_confirmation_never_reaches_the_host_agent() {
        let policy = policy(&["one"], true);
        let denied = Confirmed::Denied("no answer in time".into());
        let (answers, log, signed) = run(&policy, &denied, vec![sign_request(0, b"x")]);
        assert_eq!(answers, [Response::Failure]);
        assert_eq!(signed, 0);
        assert_eq!((log[0].decision, log[0].reason.as_deref()), (Decision::Denied, Some("no answer in time")));
        let (answers, log, signed) = run(&policy, &Confirmed::Allowed, vec![sign_request(0, b"x")]);
        assert!(matches!(answers[0], Response::SignResponse(_)));
        assert_eq!((signed, log[0].confirmed), (1, true));
    }

    #[test]
    fn frames_are_length_prefixed_bounded_and_unreadable_messages_get_a_failure() {
        let policy = Policy { keys: Vec::new(), ..policy(&[], false) };
        let log = RefCell::new(Vec::new());
        let mut upstream = FakeUpstream { down: true, ..FakeUpstream::default() };
        let append = |e: &Entry| log.borrow_mut().push(e.clone());
        let mut handler =
            Handler { policy: &policy, upstream: &mut upstream, confirm: &|_| Confirmed::Allowed, log: &append };
        assert_eq!(handler.handle_frame(&[250, 1, 2]), Response::Failure);
        assert_eq!(handler.handle_frame(&[]), Response::Failure);
        assert_eq!(handler.handle(Request::RequestIdentities), Response::Failure, "no host agent: a failure");
        assert_eq!(log.borrow()[0].request, "message type 250");

        let mut wire = Vec::new();
        write_response(&mut wire, &Response::Success).unwrap();
        assert_eq!(wire, [0, 0, 0, 1, 6]);
        assert_eq!(read_frame(&mut &wire[..]).unwrap(), Some(vec![6]));
        assert_eq!(read_frame(&mut &[][..]).unwrap(), None);
        let huge = (u32::try_from(MAX_MESSAGE).unwrap() + 1).to_be_bytes();
        assert!(read_frame(&mut &huge[..]).is_err(), "an oversized frame ends the connection");
    }

    #[test]
    fn a_message_stopped_halfway_ends_the_connection_and_waiting_between_messages_does_not() {
        use std::io::Write as _;
        let within = std::time::Duration::from_millis(100);
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(within * 3);
            theirs.write_all(&[0, 0, 0, 1, 11]).unwrap();
            theirs.write_all(&[0, 0, 0, 5, 1]).unwrap();
            theirs
        });
        assert_eq!(next_frame(&mut ours, within).unwrap(), Some(vec![11]), "an idle wait is no timeout");
        let started = std::time::Instant::now();
        assert!(next_frame(&mut ours, within).is_err(), "four of nine bytes, then nothing");
        assert!(started.elapsed() < within * 20);
        drop(late.join().unwrap());
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let trickle = std::thread::spawn(move || {
            for byte in [0, 0, 0, 3, 11, 0, 0] {
                if theirs.write_all(&[byte]).is_err() {
                    break;
                }
                std::thread::sleep(within / 3);
            }
        });
        assert!(next_frame(&mut ours, within).is_err(), "one byte at a time, each in time, the whole too slow");
        drop(ours);
        trickle.join().unwrap();
        let (mut ours, theirs) = UnixStream::pair().unwrap();
        drop(theirs);
        assert_eq!(next_frame(&mut ours, within).unwrap(), None, "a hang-up between messages");
    }

    #[test]
    fn the_question_is_escaped() {
        let policy = policy(&["one"], true);
        let data =
            SignedData::SshAuth { user: "git\u{1b}[2J".into(), service: "ssh-connection".into(), host_key: None };
        let entry = Entry { comment: Some("one".into()), ..Entry::signature("blog", "SHA256:x", &data) };
        let q = question(&policy, &entry);
        assert!(q.contains("ssh login as git\\u{1b}[2J"), "{q}");
        assert!(!q.contains('\u{1b}'));
        let forged =
            SignedData::SshAuth { user: "git\n\nAllow this signature?".into(), service: "s".into(), host_key: None };
        let q = question(&policy, &Entry::signature("blog", "SHA256:x", &forged));
        assert_eq!(q.matches('\n').count(), 4, "the guest adds no line of its own: {q}");
        assert!(q.contains("ssh login as git\\u{a}\\u{a}Allow"), "{q}");
    }
}
