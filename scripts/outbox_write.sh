#!/usr/bin/env bash
# outbox_write [TEXT|-] [ROLE]: drop a message into the AutoAppDev outbox the way AutoAppDev runners do
# (seed 000): written to a temp file (a name starting with '.', never read), then renamed into place as
# <nanoseconds>_<role>.md, so a reader sees the whole message or nothing. Progress is auxiliary: every problem
# is a warning on stderr and status 0, never stopping the runner. Source this file to get the function, or run
# it as a command (`--help` says how).

_outbox_usage() {
  cat <<'EOF'
usage: outbox_write.sh [TEXT|-] [ROLE]
       some-command | outbox_write.sh [- [ROLE]]

Writes TEXT as one AutoAppDev outbox message: <runtime>/outbox/<nanoseconds>_<role>.md.
  TEXT   the message; '-', or nothing when run as a command with input piped in, reads standard input
  ROLE   pipeline (default) or system; anything else is written as pipeline, with a warning
The runtime folder is $AUTOAPPDEV_RUNTIME_DIR, else the runtime/ folder of this guardkit-stream checkout,
which is where `npm start` watches. Problems are warnings on stderr; the exit status is always 0.
Source the file to call it as a function: source scripts/outbox_write.sh; outbox_write "text" system
EOF
}

# The folder the ingestor watches by default: AUTOAPPDEV_RUNTIME_DIR, else this checkout's runtime/.
_outbox_runtime_dir() {
  if [[ -n "${AUTOAPPDEV_RUNTIME_DIR-}" ]]; then
    printf '%s\n' "$AUTOAPPDEV_RUNTIME_DIR"
    return 0
  fi
  local checkout
  checkout=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." 2>/dev/null && pwd)
  if [[ -n "$checkout" ]] && grep -qs '"name": "guardkit-stream"' "$checkout/package.json"; then
    printf '%s\n' "$checkout/runtime"
    return 0
  fi
  printf '%s\n' "./runtime"
  return 1
}

outbox_write() {
  if [[ "${1-}" == "--help" || "${1-}" == "-h" ]]; then
    _outbox_usage
    return 0
  fi
  if [[ $# -eq 0 ]]; then
    echo "outbox_write: no message given; nothing written (see --help)" >&2
    return 0
  fi
  local content="$1" role="${2:-pipeline}"
  if [[ "$content" == "-" ]]; then
    content=$(cat) || content=""
  fi
  if [[ -z "${content//[[:space:]]/}" ]]; then
    echo "outbox_write: the message is empty; nothing written" >&2
    return 0
  fi
  case "$role" in
    pipeline | system) ;;
    *)
      echo "outbox_write: role '$role' is not pipeline or system; written as pipeline" >&2
      role=pipeline
      ;;
  esac
  local runtime
  if ! runtime=$(_outbox_runtime_dir); then
    echo "outbox_write: AUTOAPPDEV_RUNTIME_DIR is not set and this script is outside a guardkit-stream checkout;" \
      "writing to $runtime/outbox, which the ingestor may not watch" >&2
  fi
  local dir="$runtime/outbox"
  if ! mkdir -p "$dir" 2>/dev/null; then
    echo "outbox_write: cannot create $dir; message dropped" >&2
    return 0
  fi
  local ts
  ts=$(date +%s%N 2>/dev/null)
  [[ "$ts" =~ ^[0-9]+$ ]] || ts="$(date +%s)000000000" # a date(1) without %N
  local tmp="$dir/.tmp.$ts.$$.${RANDOM}"
  if ! printf '%s\n' "$content" >"$tmp" 2>/dev/null; then
    rm -f "$tmp" 2>/dev/null
    echo "outbox_write: cannot write to $dir; message dropped" >&2
    return 0
  fi
  # Never overwrite a message not yet ingested: take the next nanosecond if the name is taken.
  local attempt
  for attempt in 1 2 3 4 5 6 7 8; do
    if [[ ! -e "$dir/${ts}_${role}.md" ]] && mv -n "$tmp" "$dir/${ts}_${role}.md" 2>/dev/null && [[ ! -e "$tmp" ]]; then
      return 0
    fi
    ts=$((ts + 1))
  done
  rm -f "$tmp" 2>/dev/null
  echo "outbox_write: could not place the message in $dir; message dropped" >&2
  return 0
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  # As a command, input piped in with no TEXT is the message (a function never reads its caller's stdin).
  if [[ $# -eq 0 && ! -t 0 ]]; then
    outbox_write -
  else
    outbox_write "$@"
  fi
  exit 0
fi
