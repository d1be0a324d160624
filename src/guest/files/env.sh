# shellcheck shell=sh
# machine: the environment every shell in the VM gets, placed at
# /usr/local/lib/machine/env.sh by the core layer. It sources the
# layers' snippets in /etc/profile.d/machine-*.sh (PATH for ~/.local/bin,
# ~/.cargo/bin and Go, the corepack settings, ...).
#
# It is read explicitly, whatever the distribution's defaults: zsh reads it from
# ~/.zshenv (every zsh, login or not, interactive or not), bash from its login
# file (~/.bash_profile, else ~/.profile) and from ~/.bashrc. Every snippet only
# adds what is missing, so reading it twice changes nothing.
#
# Then the credential proxy's variables (ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN,
# OPENAI_BASE_URL, OPENAI_API_KEY, ...: the proxy on the host and this VM's
# token, never a credential), which `machine up` writes into tmpfs with
# `machine-guest proxy-env-write`.
for __machine_snippet in /etc/profile.d/machine-*.sh; do
  # shellcheck disable=SC1090
  [ -r "$__machine_snippet" ] && . "$__machine_snippet"
done
unset __machine_snippet
__machine_proxy_env="${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/machine/proxy.env"
if [ -r "$__machine_proxy_env" ]; then
  # shellcheck disable=SC1090
  . "$__machine_proxy_env"
fi
unset __machine_proxy_env
