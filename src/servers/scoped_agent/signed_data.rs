//! What a signature request asks the agent to sign, told apart for the log: an SSH signature
//! (`ssh-keygen -Y sign`, git's `gpg.format = ssh`), which names its namespace, or an ssh login
//! (an RFC 4252 user-auth request), which names the user. Everything here comes from the guest:
//! it is parsed, never trusted, and shown only escaped.

use ssh_agent_lib::ssh_encoding::Decode;
use ssh_agent_lib::ssh_key::HashAlg;
use ssh_agent_lib::ssh_key::public::KeyData;

/// `SSHSIG`: the six bytes that start the data of an SSH signature (OpenSSH's PROTOCOL.sshsig).
const SSHSIG_MAGIC: &[u8] = b"SSHSIG";

/// `SSH_MSG_USERAUTH_REQUEST`.
const USERAUTH_REQUEST: u8 = 50;

/// The longest guest string kept for the log; the rest is cut.
const MAX_FIELD: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedData {
    /// An SSH signature: `namespace` is `git` for a commit or tag, `file` for `ssh-keygen -Y sign`.
    Sshsig { namespace: String, hash: String },
    /// An ssh login (public-key authentication) as `user`, for `service` (`ssh-connection`).
    /// `host_key` is the server's host key fingerprint when the client said it
    /// (`publickey-hostbound-v00@openssh.com`, OpenSSH 8.9 and newer).
    SshAuth { user: String, service: String, host_key: Option<String> },
    /// Anything else: only its size is known.
    Other { bytes: usize },
}

impl SignedData {
    pub fn classify(data: &[u8]) -> Self {
        if let Some(found) = data.strip_prefix(SSHSIG_MAGIC).and_then(sshsig) {
            return found;
        }
        user_auth(data).unwrap_or(Self::Other { bytes: data.len() })
    }

    /// The log's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sshsig { .. } => "sshsig",
            Self::SshAuth { .. } => "ssh-auth",
            Self::Other { .. } => "other",
        }
    }
}

/// namespace, reserved, hash algorithm, hash: four strings after the magic.
fn sshsig(mut rest: &[u8]) -> Option<SignedData> {
    let namespace = Vec::<u8>::decode(&mut rest).ok()?;
    let _reserved = Vec::<u8>::decode(&mut rest).ok()?;
    let hash = Vec::<u8>::decode(&mut rest).ok()?;
    let _digest = Vec::<u8>::decode(&mut rest).ok()?;
    Some(SignedData::Sshsig { namespace: text(&namespace), hash: text(&hash) })
}

/// session id, `SSH_MSG_USERAUTH_REQUEST`, user, service, method, TRUE, algorithm, key
/// [, host key for the hostbound method].
fn user_auth(mut data: &[u8]) -> Option<SignedData> {
    let _session_id = Vec::<u8>::decode(&mut data).ok()?;
    if u8::decode(&mut data).ok()? != USERAUTH_REQUEST {
        return None;
    }
    let user = Vec::<u8>::decode(&mut data).ok()?;
    let service = Vec::<u8>::decode(&mut data).ok()?;
    let method = Vec::<u8>::decode(&mut data).ok()?;
    let hostbound = match method.as_slice() {
        b"publickey" => false,
        b"publickey-hostbound-v00@openssh.com" => true,
        _ => return None,
    };
    let _has_signature = u8::decode(&mut data).ok()?;
    let _algorithm = Vec::<u8>::decode(&mut data).ok()?;
    let _key = Vec::<u8>::decode(&mut data).ok()?;
    let host_key = if hostbound {
        let blob = Vec::<u8>::decode(&mut data).ok()?;
        KeyData::decode(&mut blob.as_slice()).ok().map(|k| k.fingerprint(HashAlg::Sha256).to_string())
    } else {
        None
    };
    Some(SignedData::SshAuth { user: text(&user), service: text(&service), host_key })
}

/// Guest bytes as text for the log (escaped only when shown), cut to a sane length.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).chars().take(MAX_FIELD).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_agent_lib::ssh_encoding::Encode as _;

    fn strings(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in parts {
            p.to_vec().encode(&mut out).unwrap();
        }
        out
    }

    #[test]
    fn an_ssh_signature_names_its_namespace() {
        let mut data = SSHSIG_MAGIC.to_vec();
        data.extend(strings(&[b"git", b"", b"sha512", &[7; 64]]));
        assert_eq!(SignedData::classify(&data), SignedData::Sshsig { namespace: "git".into(), hash: "sha512".into() });
        data.truncate(SSHSIG_MAGIC.len() + 8);
        assert_eq!(SignedData::classify(&data), SignedData::Other { bytes: 14 }, "a cut-off signature is not one");
    }

    fn user_auth_data(user: &[u8], method: &[u8], tail: &[&[u8]]) -> Vec<u8> {
        let mut data = strings(&[&[1; 32]]);
        data.push(USERAUTH_REQUEST);
        data.extend(strings(&[user, b"ssh-connection", method]));
        data.push(1);
        data.extend(strings(&[b"ssh-ed25519"]));
        data.extend(strings(tail));
        data
    }

    #[test]
    fn an_ssh_login_names_the_user_and_a_hostbound_one_the_host_key() {
        let data = user_auth_data(b"git", b"publickey", &[b"key blob"]);
        assert_eq!(
            SignedData::classify(&data),
            SignedData::SshAuth { user: "git".into(), service: "ssh-connection".into(), host_key: None }
        );
        let host: KeyData = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEX0DL3E1z/7hDjdZp5XKTLNYQ+vN9mtNztuSldPQwi5"
            .parse::<ssh_agent_lib::ssh_key::PublicKey>()
            .unwrap()
            .key_data()
            .clone();
        let mut blob = Vec::new();
        host.encode(&mut blob).unwrap();
        let data = user_auth_data(b"git", b"publickey-hostbound-v00@openssh.com", &[b"key blob", &blob]);
        let SignedData::SshAuth { host_key: Some(fingerprint), .. } = SignedData::classify(&data) else {
            panic!("a hostbound login names the host key");
        };
        assert_eq!(fingerprint, host.fingerprint(HashAlg::Sha256).to_string());
    }

    #[test]
    fn anything_else_is_other() {
        assert_eq!(SignedData::classify(b""), SignedData::Other { bytes: 0 });
        assert_eq!(SignedData::classify(b"SSHSIG"), SignedData::Other { bytes: 6 });
        let data = user_auth_data(b"git", b"password", &[b"x"]);
        assert_eq!(SignedData::classify(&data).kind(), "other", "only public-key logins are logins here");
        let huge = user_auth_data(&[b'u'; 5000], b"publickey", &[b"k"]);
        let SignedData::SshAuth { user, .. } = SignedData::classify(&huge) else { panic!("still a login") };
        assert_eq!(user.len(), MAX_FIELD, "guest strings are cut");
    }
}
