# shellcheck shell=sh
# machine: personal bin directories come first on PATH.
for __machine_dir in "$HOME/bin" "$HOME/.local/bin"; do
  case ":$PATH:" in
  *":$__machine_dir:"*) ;;
  *) PATH="$__machine_dir:$PATH" ;;
  esac
done
unset __machine_dir
export PATH
