//! The credential proxy's settings: the `[proxy]` table of projects.toml (port, extra CA) and its
//! `[proxy.<name>]` providers (where requests go, how the credential is added, where it comes
//! from, what the guest is told). Pure: the table arrives parsed, problems become diagnostics.
//!
//! Only the user's own projects.toml may hold these: a provider decides where a credential is
//! sent, so a `.machine.toml` (trusted or not) never sets one.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml_edit::{Item, TableLike, Value as TomlValue};

use super::source::{Diagnostic, Source, did_you_mean};

/// Where the proxy listens on the host's loopback unless `[proxy] port` says otherwise.
pub const DEFAULT_PORT: u16 = 7399;

/// The name the guest reaches the host's loopback by, under Lima's user-mode networking.
pub const GUEST_HOST: &str = "host.lima.internal";

/// The service of the macOS Keychain item Claude Code keeps its login in.
pub const CLAUDE_KEYCHAIN_SERVICE: &str = "Claude Code-credentials";

const SETTING_KEYS: [&str; 2] = ["port", "ca_file"];
const PROVIDER_KEYS: [&str; 8] = [
    "upstream",
    "header",
    "credential_env",
    "credential_command",
    "credential_keychain",
    "credential_file",
    "guest_url_env",
    "guest_token_env",
];

/// Guest variables a provider may not take: the shell and the dynamic loader read them.
const RESERVED_GUEST_VARS: [&str; 12] = [
    "PATH",
    "HOME",
    "SHELL",
    "USER",
    "LOGNAME",
    "ENV",
    "BASH_ENV",
    "ZDOTDIR",
    "IFS",
    "TERM",
    "MACHINE_PROXY_URL",
    "MACHINE_PROXY_TOKEN",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxySettings {
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// Extra root certificates (PEM) trusted for upstream TLS, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Built-in providers first (anthropic, openai), then the user's in file order.
    pub providers: Vec<Provider>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self { port: DEFAULT_PORT, ca_file: None, providers: vec![anthropic(), openai()] }
    }
}

impl ProxySettings {
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// `http://host.lima.internal:PORT`: the proxy as the guest reaches it.
    pub fn guest_url(&self) -> String {
        format!("http://{GUEST_HOST}:{}", self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    /// Also the first path segment that routes to it: `/anthropic/v1/messages`.
    pub name: String,
    pub upstream: Upstream,
    /// How the real credential is added to each request.
    pub header: HeaderTemplate,
    pub sources: Sources,
    /// The guest variable that gets the provider's proxy URL, and the one that gets the token.
    pub guest_url_env: Option<String>,
    pub guest_token_env: Option<String>,
}

/// An `https://host[:port][/base]` URL requests are forwarded to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    /// Empty, or `/v1`: no trailing slash.
    pub base_path: String,
}

impl Upstream {
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("https://").ok_or("must start with https:// (credentials travel only over TLS)")?;
        if rest.contains(['?', '#', '@']) || rest.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must be a plain https://host[:port][/path] URL (no user, query, fragment or spaces)".into());
        }
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p > 0).ok_or("has a port that is not 1–65535")?),
            None => (authority, 443),
        };
        let plain_host = host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        if host.is_empty() || host.starts_with(['-', '.']) || !plain_host {
            return Err("has no valid host name".into());
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if segments.iter().any(|s| *s == "." || *s == ".." || s.contains('%')) {
            return Err("has a path with `.`, `..` or %-escapes".into());
        }
        let base_path = segments.iter().flat_map(|s| ["/", s]).collect();
        Ok(Self { host: host.to_ascii_lowercase(), port, base_path })
    }

    /// `host` or `host:port` for the URI authority (the port only when it is not 443).
    pub fn authority(&self) -> String {
        if self.port == 443 { self.host.clone() } else { format!("{}:{}", self.host, self.port) }
    }
}

/// `Name: prefix{}suffix`: the header the credential goes in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderTemplate {
    /// Lowercase, as HTTP/1.1 compares names.
    pub name: String,
    pub prefix: String,
    pub suffix: String,
}

impl HeaderTemplate {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, format) = text.split_once(':').ok_or("must be `Name: format`, e.g. `x-api-key: {}`")?;
        let name = name.trim();
        let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(tchar) {
            return Err(format!("has `{name}` as its header name, which is not an HTTP header name"));
        }
        let name = name.to_ascii_lowercase();
        if MANAGED_HEADERS.contains(&name.as_str()) {
            return Err(format!("names `{name}`, which the proxy manages itself"));
        }
        let format = format.trim();
        if format.chars().any(char::is_control) {
            return Err("has a control character in its format".into());
        }
        let (prefix, suffix) = format.split_once("{}").ok_or("must have `{}` where the credential goes")?;
        if suffix.contains("{}") {
            return Err("must have `{}` only once".into());
        }
        Ok(Self { name, prefix: prefix.to_string(), suffix: suffix.to_string() })
    }

    /// The header's value for this credential (or token).
    pub fn value(&self, secret: &str) -> String {
        format!("{}{secret}{}", self.prefix, self.suffix)
    }
}

/// Headers the proxy sets or removes itself on every request.
pub const MANAGED_HEADERS: [&str; 10] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];

/// Where the credential comes from, tried in this order; the first that yields one wins.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Sources {
    /// A host environment variable (of the `machine` command that started the daemon).
    pub env: Option<String>,
    /// A program whose stdout is the credential (argv, never a shell).
    pub command: Option<Vec<String>>,
    /// The service of a macOS Keychain generic password (read with `security`; macOS only).
    pub keychain: Option<String>,
    /// A file holding the credential; `~` is the host's home, relative to projects.toml's folder.
    pub file: Option<PathBuf>,
}

impl Sources {
    pub fn is_empty(&self) -> bool {
        self.env.is_none() && self.command.is_none() && self.keychain.is_none() && self.file.is_none()
    }
}

/// Claude Code's API: an API key goes in `x-api-key` (an OAuth login, from the Keychain or
/// `claude setup-token`, as a bearer token: see `proxy::route`).
pub fn anthropic() -> Provider {
    Provider {
        name: "anthropic".into(),
        upstream: Upstream { host: "api.anthropic.com".into(), port: 443, base_path: String::new() },
        header: HeaderTemplate { name: "x-api-key".into(), prefix: String::new(), suffix: String::new() },
        sources: Sources {
            env: Some("ANTHROPIC_API_KEY".into()),
            command: None,
            keychain: Some(CLAUDE_KEYCHAIN_SERVICE.into()),
            file: Some(PathBuf::from("~/.claude/.credentials.json")),
        },
        guest_url_env: Some("ANTHROPIC_BASE_URL".into()),
        guest_token_env: Some("ANTHROPIC_AUTH_TOKEN".into()),
    }
}

/// Codex's API (the base URL includes `/v1`, as `OPENAI_BASE_URL` does).
pub fn openai() -> Provider {
    Provider {
        name: "openai".into(),
        upstream: Upstream { host: "api.openai.com".into(), port: 443, base_path: "/v1".into() },
        header: HeaderTemplate { name: "authorization".into(), prefix: "Bearer ".into(), suffix: String::new() },
        sources: Sources {
            env: Some("OPENAI_API_KEY".into()),
            command: None,
            keychain: None,
            file: Some(PathBuf::from("~/.codex/auth.json")),
        },
        guest_url_env: Some("OPENAI_BASE_URL".into()),
        guest_token_env: Some("OPENAI_API_KEY".into()),
    }
}

/// Reads the `[proxy]` table into settings, appending problems to `errors`.
pub fn parse(src: &Source, item: &Item, errors: &mut Vec<Diagnostic>) -> ProxySettings {
    let mut settings = ProxySettings::default();
    let Some(table) = item.as_table_like() else {
        errors.push(
            src.error(item.span(), "`proxy` must be a table")
                .hint("write `[proxy]` with `port = …`, and `[proxy.<name>]` tables for providers"),
        );
        return settings;
    };
    let base = src.path.parent().unwrap_or(Path::new("."));
    for (key, value) in table.iter() {
        let key_span = table.key(key).and_then(toml_edit::Key::span);
        match key {
            "port" => match value.as_integer().map(u16::try_from) {
                Some(Ok(port)) if port >= 1024 => settings.port = port,
                _ => errors.push(
                    src.error(value.span(), "`proxy.port` must be a port number from 1024 to 65535")
                        .hint(format!("the default is {DEFAULT_PORT}")),
                ),
            },
            "ca_file" => match non_empty_str(value) {
                Some(path) => settings.ca_file = Some(relative_to(base, path)),
                None => errors.push(wrong_type(src, "proxy.ca_file", value, "a path to a PEM file")),
            },
            _ if value.is_table_like() => {
                let table = value.as_table_like().expect("checked");
                if let Some(provider) = provider(src, key, key_span, table, base, &settings, errors) {
                    match settings.providers.iter_mut().find(|p| p.name == key) {
                        Some(builtin) => *builtin = provider,
                        None => settings.providers.push(provider),
                    }
                }
            }
            _ => {
                let hint = did_you_mean(key, SETTING_KEYS).map_or_else(
                    || format!("settings: {}; providers are tables: `[proxy.{key}]`", SETTING_KEYS.join(", ")),
                    |k| format!("did you mean `{k}`?"),
                );
                errors.push(src.error(key_span, format!("unknown key `{key}` in `[proxy]`")).hint(hint));
            }
        }
    }
    check_guest_vars(src, table, &settings, errors);
    settings
}

fn provider(
    src: &Source,
    name: &str,
    name_span: Option<Range<usize>>,
    table: &dyn TableLike,
    base: &Path,
    settings: &ProxySettings,
    errors: &mut Vec<Diagnostic>,
) -> Option<Provider> {
    if let Err(why) = check_provider_name(name) {
        errors.push(
            src.error(name_span, format!("invalid provider name `{name}`: it {why}"))
                .hint("a provider's name is also its path on the proxy: lowercase letters, digits and `-`"),
        );
        return None;
    }
    let before = errors.len();
    let builtin = settings.provider(name).cloned();
    let mut p = builtin.clone().unwrap_or_else(|| Provider {
        name: name.to_string(),
        upstream: Upstream { host: String::new(), port: 443, base_path: String::new() },
        header: HeaderTemplate { name: String::new(), prefix: String::new(), suffix: String::new() },
        sources: Sources::default(),
        guest_url_env: None,
        guest_token_env: None,
    });
    let at = |key: &str| format!("proxy.{name}.{key}");
    for (key, value) in table.iter() {
        let key_span = table.key(key).and_then(toml_edit::Key::span);
        match key {
            "upstream" => match non_empty_str(value).map(Upstream::parse) {
                Some(Ok(u)) => p.upstream = u,
                Some(Err(why)) => errors.push(src.error(value.span(), format!("`{}` {why}", at(key)))),
                None => errors.push(wrong_type(src, &at(key), value, "an https:// URL")),
            },
            "header" => match non_empty_str(value).map(HeaderTemplate::parse) {
                Some(Ok(h)) => p.header = h,
                Some(Err(why)) => errors.push(
                    src.error(value.span(), format!("`{}` {why}", at(key)))
                        .hint("e.g. `header = \"Authorization: Bearer {}\"` or `header = \"x-api-key: {}\"`"),
                ),
                None => errors.push(wrong_type(src, &at(key), value, "a string like \"x-api-key: {}\"")),
            },
            "credential_env" => {
                p.sources.env = switch(src, &at(key), value, errors, |s| env_name(s, false).map(str::to_string));
            }
            "credential_command" => p.sources.command = command(src, &at(key), value, errors),
            "credential_keychain" => {
                p.sources.keychain = switch(src, &at(key), value, errors, |s| Ok(s.to_string()));
            }
            "credential_file" => {
                p.sources.file = switch(src, &at(key), value, errors, |s| Ok(relative_to(base, s)));
            }
            "guest_url_env" | "guest_token_env" => {
                let var = match non_empty_str(value).map(|s| env_name(s, true)) {
                    Some(Ok(v)) if RESERVED_GUEST_VARS.contains(&v) => {
                        errors.push(src.error(value.span(), format!("`{}` may not be `{v}`", at(key))));
                        None
                    }
                    Some(Ok(v)) => Some(v.to_string()),
                    Some(Err(why)) => {
                        errors.push(src.error(value.span(), format!("`{}` {why}", at(key))));
                        None
                    }
                    None => {
                        errors.push(wrong_type(src, &at(key), value, "an environment variable name"));
                        None
                    }
                };
                if key == "guest_url_env" { p.guest_url_env = var } else { p.guest_token_env = var }
            }
            _ => {
                let hint = did_you_mean(key, PROVIDER_KEYS).map_or_else(
                    || format!("known keys: {}", PROVIDER_KEYS.join(", ")),
                    |k| format!("did you mean `{k}`?"),
                );
                errors.push(src.error(key_span, format!("unknown key `{key}` in provider `{name}`")).hint(hint));
            }
        }
    }
    if builtin.is_none() {
        for key in ["upstream", "header"] {
            if !table.contains_key(key) {
                errors.push(src.error(name_span.clone(), format!("provider `{name}` has no `{key}`")).hint(
                    "a provider of your own needs `upstream = \"https://…\"` and `header = \"Name: format with {}\"`",
                ));
            }
        }
    }
    if p.sources.is_empty() {
        errors.push(
            src.error(name_span, format!("provider `{name}` has no credential source"))
                .hint("set one of credential_env, credential_command, credential_keychain or credential_file"),
        );
    }
    (errors.len() == before).then_some(p)
}

/// Two providers may not set the same guest variable: one would silently win.
fn check_guest_vars(src: &Source, table: &dyn TableLike, settings: &ProxySettings, errors: &mut Vec<Diagnostic>) {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for p in &settings.providers {
        for var in [&p.guest_url_env, &p.guest_token_env].into_iter().flatten() {
            if let Some((_, other)) = seen.iter().find(|(v, _)| v == var) {
                let own = table.get(&p.name).and_then(Item::as_table_like);
                let setting = own.and_then(|t| t.iter().find(|(_, v)| v.as_str() == Some(var.as_str())));
                let span = setting.and_then(|(_, v)| v.span()).or_else(|| table.get(&p.name).and_then(Item::span));
                errors.push(
                    src.error(span, format!("providers `{other}` and `{}` both set the guest's `{var}`", p.name))
                        .hint("give each provider its own guest variables"),
                );
            } else {
                seen.push((var, &p.name));
            }
        }
    }
}

/// A string sets a source; `false` turns a built-in provider's default source off.
fn switch<T>(
    src: &Source,
    key: &str,
    value: &Item,
    errors: &mut Vec<Diagnostic>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    if value.as_bool() == Some(false) {
        return None;
    }
    match non_empty_str(value).map(parse) {
        Some(Ok(v)) => Some(v),
        Some(Err(why)) => {
            errors.push(src.error(value.span(), format!("`{key}` {why}")));
            None
        }
        None => {
            errors.push(wrong_type(src, key, value, "a non-empty string (or false to turn it off)"));
            None
        }
    }
}

fn command(src: &Source, key: &str, value: &Item, errors: &mut Vec<Diagnostic>) -> Option<Vec<String>> {
    let words: Option<Vec<String>> =
        value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    match words {
        Some(words)
            if !words.is_empty()
                && words.len() == value.as_array().map_or(0, toml_edit::Array::len)
                && !words[0].is_empty()
                && !words.iter().any(|w| w.contains('\0')) =>
        {
            Some(words)
        }
        _ => {
            errors.push(
                wrong_type(src, key, value, "a non-empty array of strings (the program and its arguments)")
                    .hint("e.g. `credential_command = [\"op\", \"read\", \"op://Private/Anthropic/credential\"]`"),
            );
            None
        }
    }
}

/// An environment variable name; `upper` for the guest's (conventional, and never a shell's own).
fn env_name(s: &str, upper: bool) -> Result<&str, String> {
    let first_ok = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !first_ok || !rest_ok {
        return Err(format!("is `{}`, which is not an environment variable name", s.escape_debug()));
    }
    if upper && s.bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(format!("is `{s}`: guest variables are uppercase (`{}`)", s.to_ascii_uppercase()));
    }
    Ok(s)
}

pub fn check_provider_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-');
    if ok { Ok(()) } else { Err("is not 1–32 lowercase letters, digits and `-`, starting with a letter".into()) }
}

fn non_empty_str(item: &Item) -> Option<&str> {
    item.as_str().filter(|s| !s.is_empty() && !s.contains('\0'))
}

/// `~/x` stays for the host to expand; a relative path is the config file's folder's.
fn relative_to(base: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() || path.starts_with("~/") { p.to_path_buf() } else { base.join(p) }
}

fn wrong_type(src: &Source, key: &str, item: &Item, expected: &str) -> Diagnostic {
    let got = match item {
        Item::Value(TomlValue::String(s)) if s.value().is_empty() => "an empty string",
        Item::Value(TomlValue::String(_)) => "a string",
        Item::Value(TomlValue::Integer(_)) => "an integer",
        Item::Value(TomlValue::Boolean(_)) => "a boolean",
        Item::Value(TomlValue::Array(_)) => "an array",
        Item::Value(TomlValue::Float(_)) => "a float",
        Item::Value(TomlValue::Datetime(_)) => "a date-time",
        Item::Value(TomlValue::InlineTable(_)) | Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::None => "nothing",
    };
    src.error(item.span(), format!("`{key}` must be {expected}, not {got}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<ProxySettings, Vec<String>> {
        let src = Source::new("/cfg/projects.toml", text);
        let doc: toml_edit::Document<String> = toml_edit::Document::parse(text.to_string()).unwrap();
        let mut errors = Vec::new();
        let settings = parse(&src, &doc["proxy"], &mut errors);
        if errors.is_empty() { Ok(settings) } else { Err(errors.iter().map(|d| d.message.clone()).collect()) }
    }

    #[test]
    fn defaults_are_the_two_built_in_providers_on_the_fixed_port() {
        let s = parsed("[proxy]\n").unwrap();
        assert_eq!(s.port, DEFAULT_PORT);
        let names: Vec<&str> = s.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["anthropic", "openai"]);
        assert_eq!(s.guest_url(), "http://host.lima.internal:7399");
    }

    #[test]
    fn a_provider_of_ones_own_and_an_override() {
        let s = parsed(
            "[proxy]\nport = 8123\nca_file = \"certs/ca.pem\"\n\n[proxy.anthropic]\ncredential_command = [\"op\", \"read\", \"op://x/y\"]\ncredential_keychain = false\n\n[proxy.mistral]\nupstream = \"https://API.mistral.ai:8443/v1/\"\nheader = \"Authorization: Bearer {}\"\ncredential_env = \"MISTRAL_API_KEY\"\nguest_url_env = \"MISTRAL_BASE_URL\"\n",
        )
        .unwrap();
        assert_eq!(s.port, 8123);
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("/cfg/certs/ca.pem")));
        let a = s.provider("anthropic").unwrap();
        assert_eq!(a.sources.command.as_deref(), Some(&["op".to_string(), "read".into(), "op://x/y".into()][..]));
        assert_eq!(a.sources.keychain, None, "false turns the default off");
        assert_eq!(a.sources.env.as_deref(), Some("ANTHROPIC_API_KEY"), "the other defaults stay");
        let m = s.provider("mistral").unwrap();
        assert_eq!(m.upstream, Upstream { host: "api.mistral.ai".into(), port: 8443, base_path: "/v1".into() });
        assert_eq!(m.upstream.authority(), "api.mistral.ai:8443");
        assert_eq!(m.header.value("k"), "Bearer k");
        assert_eq!(m.header.name, "authorization");
        assert_eq!(m.guest_token_env, None);
    }

    #[test]
    fn upstreams_are_https_urls_without_tricks() {
        assert_eq!(Upstream::parse("https://h").unwrap().authority(), "h");
        for bad in [
            "http://api.example.com",
            "https://",
            "https://user@h/x",
            "https://h/x?y=1",
            "https://h/../x",
            "https://h:0",
            "https://h:99999",
            "https://-h",
            "https://h/%2e%2e",
            "https://h x",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_templates() {
        let h = HeaderTemplate::parse("X-Api-Key: {}").unwrap();
        assert_eq!((h.name.as_str(), h.value("s")), ("x-api-key", "s".to_string()));
        assert_eq!(HeaderTemplate::parse("Authorization: Token {} x").unwrap().value("s"), "Token s x");
        for bad in ["x-api-key", "x api: {}", "x: none", "x: {}{}", "Host: {}", "content-length: {}", ": {}"] {
            assert!(HeaderTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let errors = parsed(
            "[proxy]\nport = 80\nprot = 1\n[proxy.Bad]\n[proxy.own]\ncredential_env = \"1X\"\n[proxy.two]\nupstream = \"https://h\"\nheader = \"k: {}\"\ncredential_env = \"K\"\nguest_token_env = \"ANTHROPIC_AUTH_TOKEN\"\n",
        )
        .unwrap_err();
        let all = errors.join("\n");
        for expected in [
            "`proxy.port` must be a port number from 1024 to 65535",
            "unknown key `prot` in `[proxy]`",
            "invalid provider name `Bad`",
            "`proxy.own.credential_env` is `1X`, which is not an environment variable name",
            "provider `own` has no `upstream`",
            "provider `own` has no `header`",
            "provider `own` has no credential source",
            "providers `anthropic` and `two` both set the guest's `ANTHROPIC_AUTH_TOKEN`",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }
}
