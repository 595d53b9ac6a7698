#!/usr/bin/env bash
# outbox_write CONTENT [ROLE]: drop a message into "$AUTOAPPDEV_RUNTIME_DIR/outbox/" (default ./runtime) the way
# AutoAppDev runners do (seed 000): written to a temp file (a name starting with '.', never read), then renamed
# into place as <nanoseconds>_<role>.md, so a reader sees the whole message or nothing. ROLE is pipeline or
# system (anything else is pipeline). Progress is auxiliary: a failure prints a warning and returns 0, never
# stopping the runner. Source this file to get the function, or run it as a command.
outbox_write() {
  local content="${1-}" role="${2:-pipeline}"
  local dir="${AUTOAPPDEV_RUNTIME_DIR:-./runtime}/outbox"
  case "$role" in
    pipeline | system) ;;
    *) role=pipeline ;;
  esac
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
  outbox_write "$@"
  exit 0
fi
