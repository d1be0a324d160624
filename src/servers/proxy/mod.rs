//! The credential proxy: a host daemon the VMs reach as `http://host.lima.internal:PORT`, which
//! swaps each VM's random token for the real API credential and passes the provider's answer
//! back as it streams. The credential never enters a VM, an argv or a file machine writes.
//!
//! `route` (pure: routing, tokens in headers, header rewriting), `token` (per-VM tokens and
//! their files), `credential` (the sources, in order), `log` (the request log), `control` (the
//! daemon's control socket), `server` (hyper and rustls), `daemon` (starting, asking, stopping).

pub mod control;
pub mod credential;
pub mod daemon;
pub mod log;
pub mod route;
pub mod server;
pub mod token;

use crate::compiler::config::proxy::ProxySettings;

/// What a VM's shells get (`KEY=VALUE` lines, handed to `machine-guest proxy-env-write` on
/// stdin): the proxy's URL and the token, generally and under each provider's own names.
pub fn guest_env(settings: &ProxySettings, token: &str) -> String {
    let base = settings.guest_url();
    let mut lines = vec![format!("MACHINE_PROXY_URL={base}"), format!("MACHINE_PROXY_TOKEN={token}")];
    for p in &settings.providers {
        if let Some(var) = &p.guest_url_env {
            lines.push(format!("{var}={base}/{}", p.name));
        }
        if let Some(var) = &p.guest_token_env {
            lines.push(format!("{var}={token}"));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Where Codex in the guest sends its requests and which variable holds the token, when the
/// `openai` provider gives the guest one (`machine-guest proxy-env-write --codex URL VAR`).
/// Codex reads neither `OPENAI_BASE_URL` nor `OPENAI_API_KEY` for its built-in provider (0.139
/// and 0.171 alike), so it gets a provider of its own in its system config.
pub fn codex_provider(settings: &ProxySettings) -> Option<(String, String)> {
    let openai = settings.provider("openai")?;
    let var = openai.guest_token_env.clone()?;
    Some((format!("{}/{}", settings.guest_url(), openai.name), var))
}

/// The arguments of `machine-guest proxy-env-write` for these settings.
pub fn guest_env_args(settings: &ProxySettings) -> Vec<String> {
    let mut args = vec!["proxy-env-write".to_string()];
    if let Some((url, var)) = codex_provider(settings) {
        args.extend(["--codex".to_string(), url, var]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_is_pointed_at_the_openai_route_with_the_token_variable() {
        let settings = ProxySettings::default();
        assert_eq!(
            guest_env_args(&settings),
            ["proxy-env-write", "--codex", "http://host.lima.internal:7399/openai", "OPENAI_API_KEY"]
        );
        let mut quiet = settings.clone();
        quiet.providers.iter_mut().filter(|p| p.name == "openai").for_each(|p| p.guest_token_env = None);
        assert_eq!(guest_env_args(&quiet), ["proxy-env-write"], "no token variable: nothing for Codex to read");
    }

    #[test]
    fn the_guest_gets_urls_and_the_token_under_each_providers_names() {
        let env = guest_env(&ProxySettings::default(), "machine-proxy-t");
        assert_eq!(
            env,
            "MACHINE_PROXY_URL=http://host.lima.internal:7399\nMACHINE_PROXY_TOKEN=machine-proxy-t\n\
             ANTHROPIC_BASE_URL=http://host.lima.internal:7399/anthropic\nANTHROPIC_AUTH_TOKEN=machine-proxy-t\n\
             OPENAI_BASE_URL=http://host.lima.internal:7399/openai\nOPENAI_API_KEY=machine-proxy-t\n"
        );
    }
}
