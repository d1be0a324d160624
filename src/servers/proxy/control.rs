//! The daemon's control socket (`<state>/proxy/control.sock`, mode 0600): one JSON request per
//! connection and one JSON reply, both a line. Tokens and credentials never travel on it: a
//! VM is registered by name, and the daemon reads its token from the VM's 0600 token file.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Who is there: the daemon's [`Status`], without resolving anything.
    Ping,
    /// Accept the token in `<state>/<instance>/proxy-token.json` (re-read); replies with the
    /// status, as `Ping` does.
    Register { instance: String },
    /// Stop accepting the VM's token.
    Forget { instance: String },
    /// The status, with every provider's credential resolved when `check`.
    Status { check: bool },
    /// Finish the requests in flight and exit.
    Stop,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub error: Option<String>,
    pub status: Option<Status>,
}

impl Reply {
    pub fn ok(status: Option<Status>) -> Self {
        Self { ok: true, error: None, status }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self { ok: false, error: Some(message.into()), status: None }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub version: String,
    /// Of the settings it runs with: a client with other settings restarts it.
    pub fingerprint: String,
    pub port: u16,
    /// Seconds since the epoch.
    pub started: u64,
    /// The Lima instances whose tokens it accepts.
    pub vms: Vec<String>,
    pub providers: Vec<ProviderStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderStatus {
    pub name: String,
    /// `https://host[:port]/base`.
    pub upstream: String,
    /// `ok (<source>)`, `not read yet`, or the error that reading it gave.
    pub credential: String,
}

/// How long a client waits for the daemon's answer (a `check` may run a credential command).
const REPLY_TIMEOUT: Duration = Duration::from_secs(150);

/// Sends one request; `Ok(None)` when no daemon listens there.
pub fn call(socket: &Path, request: &Request) -> Result<Option<Reply>> {
    let Ok(mut stream) = UnixStream::connect(socket) else { return Ok(None) };
    let fail = |e: std::io::Error| {
        Error::failure(format!("the credential proxy did not answer on {}", socket.display())).caused_by(e)
    };
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(fail)?;
    let mut line = serde_json::to_string(request).expect("plain data serialises");
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(fail)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(fail)?;
    if answer.is_empty() {
        // It closed without a word: a daemon on its way out.
        return Ok(None);
    }
    serde_json::from_str(&answer).map(Some).map_err(|e| {
        Error::failure(format!("the credential proxy on {} gave an answer machine cannot read", socket.display()))
            .caused_by(e)
            .hint("a daemon of another machine version may run: `machine proxy stop`, then try again")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let text = serde_json::to_string(&Request::Register { instance: "blog".into() }).unwrap();
        assert_eq!(text, r#"{"op":"register","instance":"blog"}"#);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"status","check":true}"#).unwrap(),
            Request::Status { check: true }
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"add-key"}"#).is_err());
    }

    #[test]
    fn no_daemon_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(call(&dir.path().join("control.sock"), &Request::Ping).unwrap(), None);
    }
}
