//! Pure request handling: which provider a guest's request is for, which VM's token it
//! carries, the upstream URL, and the headers that go up and come back. The server applies
//! these; nothing here does IO.
//!
//! Routing is by the first path segment: `/anthropic/v1/messages?beta=true` goes to the
//! anthropic provider's upstream with `/v1/messages?beta=true` after its base path.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::credential::Credential;
use crate::compiler::config::proxy::{MANAGED_HEADERS, Provider};

/// Anthropic's API accepts an OAuth access token (Claude Code's login) only with this beta.
pub const ANTHROPIC_OAUTH_BETA: &str = "oauth-2025-04-20";

/// Why a request is answered by the proxy itself and never reaches an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

/// The provider a request target names and the rest of it (path and query) for the upstream.
pub fn split_target<'p>(providers: &'p [Provider], target: &str) -> Result<(&'p Provider, String), Refusal> {
    let Some(path) = target.strip_prefix('/') else {
        // `GET http://elsewhere/ HTTP/1.1` or `CONNECT host:443`: this is not a forward proxy.
        return Err(Refusal::new(400, "the proxy takes requests for its own paths only: /<provider>/…"));
    };
    let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
    let (name, rest) = path.split_once('/').map_or((path, ""), |(n, r)| (n, r));
    let Some(provider) = providers.iter().find(|p| p.name == name) else {
        let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        return Err(Refusal::new(404, format!("no provider `{name}`: the proxy serves /{}", known.join(", /"))));
    };
    if rest
        .split('/')
        .any(|s| matches!(s.to_ascii_lowercase().as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."))
    {
        return Err(Refusal::new(400, "the path may not have `.` or `..` segments"));
    }
    let mut out = format!("/{rest}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok((provider, out))
}

/// The upstream URL for a request's path and query.
pub fn upstream_uri(provider: &Provider, rest: &str) -> String {
    format!("https://{}{}{rest}", provider.upstream.authority(), provider.upstream.base_path)
}

/// The token a request carries, wherever its client puts a key: `Authorization: Bearer`,
/// `x-api-key`, or the provider's own credential header.
pub fn presented_token(headers: &HeaderMap, provider: &Provider) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let own = text(&provider.header.name).and_then(|v| {
        v.strip_prefix(provider.header.prefix.as_str()).and_then(|v| v.strip_suffix(provider.header.suffix.as_str()))
    });
    let bearer = text("authorization").and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    [own, bearer, text("x-api-key")].into_iter().flatten().map(str::trim).find(|t| !t.is_empty()).map(str::to_string)
}

/// The headers sent upstream: the guest's, less hop-by-hop ones and anything that carried its
/// token, plus the real credential (marked sensitive, so it is never logged).
pub fn request_headers(incoming: &HeaderMap, provider: &Provider, credential: &Credential) -> HeaderMap {
    let mut out = without_hop_by_hop(incoming, &["host"]);
    out.remove(header::AUTHORIZATION);
    out.remove("x-api-key");
    out.remove(provider.header.name.as_str());
    let (name, value) = if credential.oauth {
        let mut beta: Vec<String> = out
            .get_all("anthropic-beta")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if !beta.iter().any(|b| b == ANTHROPIC_OAUTH_BETA) {
            beta.push(ANTHROPIC_OAUTH_BETA.into());
        }
        out.remove("anthropic-beta");
        if let Ok(v) = HeaderValue::from_str(&beta.join(",")) {
            out.insert(HeaderName::from_static("anthropic-beta"), v);
        }
        (header::AUTHORIZATION, format!("Bearer {}", credential.secret()))
    } else {
        let name = HeaderName::from_bytes(provider.header.name.as_bytes()).expect("validated when parsed");
        (name, provider.header.value(credential.secret()))
    };
    // A credential is checked for header-safe characters when it is read.
    if let Ok(mut value) = HeaderValue::from_str(&value) {
        value.set_sensitive(true);
        out.insert(name, value);
    }
    out
}

/// The upstream's response headers for the guest, less hop-by-hop ones.
pub fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    without_hop_by_hop(upstream, &[])
}

/// `headers` without the hop-by-hop ones (and those `Connection` names) and `drop_too`;
/// `content-length` stays: the body passes through unchanged.
fn without_hop_by_hop(headers: &HeaderMap, drop_too: &[&str]) -> HeaderMap {
    let listed: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        let hop = (MANAGED_HEADERS.contains(&n) && !matches!(n, "content-length" | "host"))
            || listed.contains(&n.to_string());
        if !hop && !drop_too.contains(&n) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::config::proxy::{ProxySettings, Upstream};

    fn providers() -> Vec<Provider> {
        ProxySettings::default().providers
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_first_segment_picks_the_provider() {
        let all = providers();
        let (p, rest) = split_target(&all, "/anthropic/v1/messages?beta=true").unwrap();
        assert_eq!((p.name.as_str(), rest.as_str()), ("anthropic", "/v1/messages?beta=true"));
        assert_eq!(upstream_uri(p, &rest), "https://api.anthropic.com/v1/messages?beta=true");
        let (p, rest) = split_target(&all, "/openai/responses").unwrap();
        assert_eq!(upstream_uri(p, &rest), "https://api.openai.com/v1/responses");
        let (_, rest) = split_target(&all, "/openai").unwrap();
        assert_eq!(rest, "/");
    }

    #[test]
    fn an_upstream_with_a_port_and_base() {
        let mut p = providers().remove(0);
        p.upstream = Upstream::parse("https://127.0.0.1:8443/api").unwrap();
        assert_eq!(upstream_uri(&p, "/v1/x?y"), "https://127.0.0.1:8443/api/v1/x?y");
    }

    #[test]
    fn unknown_providers_other_hosts_and_dot_segments_are_refused() {
        let all = providers();
        assert_eq!(split_target(&all, "/mistral/v1").unwrap_err().status, 404);
        assert!(split_target(&all, "/mistral/v1").unwrap_err().message.contains("/anthropic, /openai"));
        assert_eq!(split_target(&all, "http://evil.example/x").unwrap_err().status, 400);
        assert_eq!(split_target(&all, "api.openai.com:443").unwrap_err().status, 400);
        for bad in ["/openai/../anthropic/v1", "/openai/./x", "/openai/%2E%2E/x", "/openai/a/.%2e"] {
            assert_eq!(split_target(&all, bad).unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn the_token_comes_from_wherever_the_client_puts_a_key() {
        let all = providers();
        let (anthropic, openai) = (&all[0], &all[1]);
        assert_eq!(presented_token(&headers(&[("authorization", "Bearer tok")]), anthropic).as_deref(), Some("tok"));
        assert_eq!(presented_token(&headers(&[("x-api-key", "tok")]), anthropic).as_deref(), Some("tok"));
        assert_eq!(presented_token(&headers(&[("x-api-key", "tok")]), openai).as_deref(), Some("tok"));
        assert_eq!(presented_token(&headers(&[("authorization", "Basic abc")]), openai), None);
        assert_eq!(presented_token(&headers(&[("authorization", "Bearer ")]), openai), None);
        assert_eq!(presented_token(&headers(&[]), openai), None);
    }

    #[test]
    fn the_token_is_replaced_by_the_credential() {
        let all = providers();
        let incoming = headers(&[
            ("host", "host.lima.internal:7399"),
            ("authorization", "Bearer machine-proxy-abc"),
            ("x-api-key", "machine-proxy-abc"),
            ("content-type", "application/json"),
            ("content-length", "12"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("anthropic-version", "2023-06-01"),
        ]);
        let out = request_headers(&incoming, &all[0], &Credential::new("sk-ant-api03-real", "test"));
        assert_eq!(out["x-api-key"], "sk-ant-api03-real");
        assert!(out["x-api-key"].is_sensitive());
        assert!(out.get("authorization").is_none(), "the token's header is gone");
        assert!(out.get("host").is_none(), "the client sets the upstream's host");
        assert!(out.get("connection").is_none() && out.get("x-secret-hop").is_none());
        assert_eq!(out["content-type"], "application/json");
        assert_eq!(out["content-length"], "12", "the body goes up as it came");
        assert_eq!(out["anthropic-version"], "2023-06-01");
        assert!(!format!("{out:?}").contains("machine-proxy-abc"));

        let out = request_headers(&incoming, &all[1], &Credential::new("sk-openai", "test"));
        assert_eq!(out["authorization"], "Bearer sk-openai");
        assert!(out.get("x-api-key").is_none());
    }

    #[test]
    fn an_oauth_login_goes_as_a_bearer_token_with_its_beta() {
        let all = providers();
        let incoming = headers(&[("authorization", "Bearer t"), ("anthropic-beta", "fine-grained-tool-streaming")]);
        let mut credential = Credential::new("sk-ant-oat01-x", "test");
        credential.oauth = true;
        let out = request_headers(&incoming, &all[0], &credential);
        assert_eq!(out["authorization"], "Bearer sk-ant-oat01-x");
        assert_eq!(out["anthropic-beta"], "fine-grained-tool-streaming,oauth-2025-04-20");
        assert!(out.get("x-api-key").is_none());
    }

    #[test]
    fn responses_lose_hop_by_hop_headers_only() {
        let up = headers(&[
            ("content-type", "text/event-stream"),
            ("transfer-encoding", "chunked"),
            ("connection", "close"),
            ("request-id", "req_1"),
        ]);
        let out = response_headers(&up);
        assert_eq!(out.len(), 2);
        assert_eq!(out["content-type"], "text/event-stream");
        assert_eq!(out["request-id"], "req_1");
    }
}
