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
for __machine_snippet in /etc/profile.d/machine-*.sh; do
  # shellcheck disable=SC1090
  [ -r "$__machine_snippet" ] && . "$__machine_snippet"
done
unset __machine_snippet
