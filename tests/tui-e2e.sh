#!/usr/bin/env bash
# End-to-end run of `wacrm tui` in a real terminal (tmux send-keys / capture-pane), as CI runs it:
#   1. the demo business, wacrm-webhookd, and the fake Graph API (which answers sends and then POSTs
#      signed sent/delivered/read status webhooks to the daemon, as Meta does);
#   2. an agent logs in and opens the TUI;
#   3. a signed inbound-message webhook is POSTed: the message must appear live (LISTEN/NOTIFY);
#   4. the agent opens that chat and replies: the reply must show ✓ and then ✓✓ as statuses arrive;
#   5. composing safely: a scripted $EDITOR round trip (Ctrl-E), a draft per chat kept across a restart
#      (with the quit warning), a closed-window chat where typing is only text and a template goes
#      through pick → parameters → preview → y;
#   6. the workflow: a canned reply with fields, a private note, a photo opened with `o` (and an expired
#      one refused clearly), a search within the chat, resolve/reopen/snooze, assign and take over, the
#      message log (L), a Pipeline card opening its conversation in the Inbox, and the layout at 80×24
#      (where `?` help scrolls);
#   7. the owner's dashboards 4-8 (with a `/` filter) and the notification list, each showing the demo
#      business's data.
#
# Needs: a PostgreSQL server where it may create a throwaway database — DATABASE_URL (scripts/test runs this
# script against its private cluster), else E2E_PG, else postgres://postgres@127.0.0.1:5432/postgres —
# and tmux, curl, openssl, cargo. Usage: tests/tui-e2e.sh  (E2E_KEEP=1 keeps the logs)
set -euo pipefail
cd "$(dirname "$0")/.."

admin="${DATABASE_URL:-${E2E_PG:-postgres://postgres@127.0.0.1:5432/postgres}}"
# The URL of database $2 on the server of URL $1, keeping its query (e.g. ?host=/socket/dir).
with_db() {
  local base=${1%%\?*} query=""
  [[ $1 == *\?* ]] && query="?${1#*\?}"
  printf '%s/%s%s' "${base%/*}" "$2" "$query"
}
db="wacrm_tui_e2e_$$"
work="$(mktemp -d)"
secret="e2e-app-secret-$$"
port="${E2E_WEBHOOK_PORT:-$((20000 + $$ % 20000))}"
session="wacrm-e2e-$$"
stamp="$$-$(date +%s)"
pids=()

cleanup() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    echo "--- screen ---"; tmux capture-pane -p -t "$session" 2>/dev/null || true
    for log in "$work"/*.log "$work"/*.err; do [[ -s "$log" ]] && { echo "--- $log ---"; tail -n 20 "$log"; }; done
  fi
  tmux kill-session -t "$session" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$admin" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  if [[ -n "${E2E_KEEP:-}" ]]; then echo "logs kept in $work"; else rm -rf "$work"; fi
  exit $status
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

# Polls the screen until it matches the extended regex $1 (within $2 seconds, default 15).
wait_for() {
  local pattern="$1" deadline=$((SECONDS + ${2:-15}))
  while ((SECONDS < deadline)); do
    if tmux capture-pane -p -t "$session" | grep -Eq -- "$pattern"; then
      echo "seen: $pattern"
      return 0
    fi
    sleep 0.2
  done
  echo "FAILED: never saw /$pattern/ on the screen" >&2
  return 1
}

step "build"
# DATABASE_URL names the test server; the query macros check against .env or the offline cache instead.
env -u DATABASE_URL cargo build -q -p wacrm-cli -p wacrm-webhookd
env -u DATABASE_URL cargo build -q -p wacrm-tui --example e2e-stack
bin="$PWD/target/debug"

step "database $db"
psql -q "$admin" -c "CREATE DATABASE \"$db\""
export DATABASE_URL="$(with_db "$admin" "$db")" WACRM_CONFIG="$work/config.toml" WACRM_APP_SECRET="$secret"
export WACRM_TUI_LOG="$work/tui.log" NO_COLOR=1
"$bin/wacrm" db migrate >/dev/null

step "wacrm-webhookd on :$port"
"$bin/wacrm-webhookd" --listen "127.0.0.1:$port" >"$work/webhookd.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$port/healthz" >/dev/null

step "fake Graph API and the demo business"
"$bin/examples/e2e-stack" "http://127.0.0.1:$port/webhook" >"$work/stack.out" 2>"$work/stack.err" &
pids+=($!)
for _ in $(seq 150); do grep -q '^ready ' "$work/stack.out" && break; sleep 0.2; done
grep '^ready ' "$work/stack.out"

step "log in as the demo agent and open the TUI"
WACRM_PASSWORD=demo-password "$bin/wacrm" --business demo@wacrm.test login --email ana@wacrm.test </dev/null
# A scripted $EDITOR: appends to whatever the composer handed it, as a person would.
cat >"$work/editor.sh" <<'SH'
#!/bin/sh
printf '%s' "$(cat "$1") + from the editor" >"$1"
SH
chmod +x "$work/editor.sh"
# A scripted system opener: notes which file it was asked to open.
cat >"$work/opener.sh" <<'SH'
#!/bin/sh
printf '%s' "$1" >"$(dirname "$0")/opened.txt"
SH
chmod +x "$work/opener.sh"
open_tui() {
  tmux new-session -d -s "$session" -x "${1:-160}" -y "${2:-45}" \
    "env DATABASE_URL='$DATABASE_URL' WACRM_CONFIG='$WACRM_CONFIG' WACRM_TUI_LOG='$WACRM_TUI_LOG' NO_COLOR=1 \
      EDITOR='$work/editor.sh' WACRM_TUI_DRAFTS='$work/drafts.json' WACRM_MEDIA_DIR='$work/media' \
      WACRM_OPENER='$work/opener.sh' '$bin/wacrm' tui"
}
# Sends each key on its own, a moment apart (E2E_KEY_PAUSE seconds: raise it on a loaded machine, where
# keys sent too close together reach the TUI in one read and an Esc merges with the next key into Alt+key).
press() {
  for k in "$@"; do tmux send-keys -t "$session" "$k"; sleep "${E2E_KEY_PAUSE:-0.3}"; done
}
# Fails when the screen shows the extended regex $1.
never_shows() {
  if tmux capture-pane -p -t "$session" | grep -Eq -- "$1"; then
    echo "FAILED: the screen shows /$1/" >&2
    return 1
  fi
  echo "not shown: $1"
}
open_tui
wait_for '● live'
wait_for 'Demo Coffee Roasters · Ana Agent'

# POSTs the webhook body $1, signed as Meta signs it.
deliver() {
  local signature
  signature="sha256=$(printf '%s' "$1" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')"
  curl -fsS -X POST "http://127.0.0.1:$port/webhook" -H 'Content-Type: application/json' \
    -H "X-Hub-Signature-256: $signature" --data-binary "$1" >/dev/null
}
# A webhook of one message from Erin: $1 is the message's JSON without "from" and "timestamp".
from_erin() {
  cat <<JSON
{"object":"whatsapp_business_account","entry":[{"id":"200000000000001","changes":[{"field":"messages","value":{
"messaging_product":"whatsapp","metadata":{"display_phone_number":"12025550100","phone_number_id":"100000000000001"},
"contacts":[{"profile":{"name":"Erin Endtoend"},"wa_id":"15550009876"}],
"messages":[{"from":"15550009876","timestamp":"$(date +%s)",$1}]}}]}]}
JSON
}

step "a customer writes (signed webhook)"
now="$(date +%s)"
body=$(cat <<JSON
{"object":"whatsapp_business_account","entry":[{"id":"200000000000001","changes":[{"field":"messages","value":{
"messaging_product":"whatsapp","metadata":{"display_phone_number":"12025550100","phone_number_id":"100000000000001"},
"contacts":[{"profile":{"name":"Erin Endtoend"},"wa_id":"15550009876"}],
"messages":[{"from":"15550009876","id":"wamid.E2E$stamp","timestamp":"$now","type":"text",
"text":{"body":"e2e hello $stamp"}}]}}]}]}
JSON
)
signature="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')"
curl -fsS -X POST "http://127.0.0.1:$port/webhook" -H 'Content-Type: application/json' \
  -H "X-Hub-Signature-256: $signature" --data-binary "$body" >/dev/null
wait_for "Erin Endtoend"
wait_for "e2e hello $stamp"

step "open the new conversation and reply"
tmux send-keys -t "$session" g
wait_for "┌ Erin Endtoend"
tmux send-keys -t "$session" Enter
tmux send-keys -t "$session" -l "e2e reply $stamp"
tmux send-keys -t "$session" Enter
# Accepted by the (fake) Graph API: one mark; then the status webhooks: delivered and read, two.
wait_for "e2e reply $stamp .* [0-9]{2}:[0-9]{2} ✓│"
wait_for "e2e reply $stamp .* [0-9]{2}:[0-9]{2} ✓✓│" 20
tmux capture-pane -p -t "$session" | sed -n '2,12p'


step "Ctrl-E: the draft goes to \$EDITOR and comes back; the TUI keeps running"
tmux send-keys -t "$session" -l "draft $stamp"
tmux send-keys -t "$session" C-e
wait_for "draft $stamp \+ from the editor"
wait_for '● live'
tmux send-keys -t "$session" Enter
wait_for "draft $stamp \+ from the editor .* [0-9]{2}:[0-9]{2} ✓"

step "a draft belongs to its conversation"
tmux send-keys -t "$session" -l "for Erin only $stamp"
# One key at a time: Esc followed at once by a letter reads as Alt+letter.
press Escape Escape G
wait_for "window closed: templates only"
never_shows "for Erin only"

step "typing in a closed-window chat is only text; the template goes through a form, a preview and y"
press i
tmux send-keys -t "$session" -l "that thing"
wait_for "│that thing"
never_shows "Send a template"
press Enter
wait_for "Send a template · 1/3 pick"
wait_for "order_update"
press Enter
wait_for "order_update · 2/3 parameters"
press Enter Enter
wait_for "\\{\\{1\\}\\} is empty"
tmux send-keys -t "$session" -l "Pat"
press Tab
tmux send-keys -t "$session" -l "A-$stamp"
press Enter
wait_for "Hi Pat, your order A-$stamp is on its way!"
press Enter 1
wait_for "order_update · 3/3 preview"
press y
wait_for "A-$stamp  Ana  [0-9]{2}:[0-9]{2} ✓"

step "quit warns about the drafts; they come back after a restart"
press Escape Escape q
wait_for "2 unsent drafts"
press y
for _ in $(seq 25); do tmux has-session -t "$session" 2>/dev/null || break; sleep 0.2; done
grep -q "for Erin only $stamp" "$work/drafts.json"
"$bin/wacrm" canned add ship 'Hi {{name}}, it ships in {{days}} days.' >/dev/null
open_tui
wait_for '● live'
press /
tmux send-keys -t "$session" -l "Erin"
press Enter
wait_for "┌ Erin Endtoend"
wait_for "│for Erin only $stamp"

step "a canned reply: /ship expands, its fields are filled in, nothing goes until Enter"
press i C-u
tmux send-keys -t "$session" -l "/ship"
press Enter
wait_for "Hi \\{\\{name\\}\\}, it ships in \\{\\{days\\}\\} days."
press Tab
tmux send-keys -t "$session" -l "3"
press Enter
wait_for "│Hi Erin Endtoend, it ships in 3 days."
press Enter
wait_for "it ships in 3 days.  Ana  [0-9]{2}:[0-9]{2} ✓"

step "a private note shows in the chat, marked"
press Escape n
wait_for "Private note"
tmux send-keys -t "$session" -l "vip $stamp"
press Enter
wait_for "✎ note · Ana [0-9]{2}:[0-9]{2}: vip $stamp"

step "o: a photo is downloaded through the media endpoint and opened; an expired one says so"
deliver "$(from_erin "\"id\":\"wamid.E2EIMG$stamp\",\"type\":\"image\",
\"image\":{\"id\":\"e2emedia1\",\"mime_type\":\"image/jpeg\",\"caption\":\"label photo $stamp\"}")"
wait_for "📎 \[image\] label photo $stamp"
press o
wait_for "opened: .*/media/business[0-9]+/[0-9]+-image\.jpg"
for _ in $(seq 25); do [[ -s "$work/opened.txt" ]] && break; sleep 0.2; done
[[ "$(cat "$(cat "$work/opened.txt")")" == "e2e-jpeg-bytes" ]] || { echo "FAILED: the opened file is not the photo" >&2; exit 1; }
deliver "$(from_erin "\"id\":\"wamid.E2EDOC$stamp\",\"type\":\"document\",
\"document\":{\"id\":\"e2egone1\",\"mime_type\":\"application/pdf\",\"filename\":\"old-invoice.pdf\"}")"
wait_for "📎 \[document: old-invoice.pdf\]"
press o
wait_for "Open a file"
press Enter
wait_for "media: the document of message [0-9]+ is no longer on WhatsApp's servers"

step "/ in the chat searches its messages; Esc clears the search"
press /
tmux send-keys -t "$session" -l "label photo"
press Enter
wait_for "/label photo 1/1 · n/N · Esc clears"
press Escape
never_shows "Esc clears"

step "resolve, reopen, snooze"
press x
wait_for "✓ resolved"
press x
sleep 1
never_shows "✓ resolved"
press z
wait_for "Snooze"
press Enter
wait_for "z snoozed till"
press x
sleep 1
never_shows "z snoozed till"

step "assign to a teammate; taking it back asks first"
press A
wait_for "Assign Erin Endtoend"
wait_for "Ben Agent"
press j j Enter
wait_for "assigned: Ben Agent"
press a
wait_for "Ben Agent is assigned to the conversation with Erin Endtoend"
press Enter 2
wait_for "Take it over\\?"
press y
wait_for "assigned: Ana Agent"

step "the message log keeps what the status bar showed"
press Escape f L
wait_for "Messages · j/k scroll"
wait_for "[0-9]{2}:[0-9]{2}:[0-9]{2}  showing unread conversations"
press Escape :
tmux send-keys -t "$session" -l "filter all"
press Enter

step "Pipeline: Enter on a card opens that contact's conversation in the Inbox, even one the list hides"
press /
tmux send-keys -t "$session" -l "nobody-$stamp"
press Enter
wait_for "Conversations · all · /nobody-$stamp"
wait_for "No conversations\."
press 3 /
tmux send-keys -t "$session" -l "Erin"
press Enter
# The filter keeps the column; Erin's card is in the column of her stage.
for _ in 1 2 3 4 5; do
  tmux capture-pane -p -t "$session" | grep -q "History · Erin Endtoend" && break
  sleep 1
  tmux capture-pane -p -t "$session" | grep -q "History · Erin Endtoend" && break
  press Tab
done
wait_for "History · Erin Endtoend"
press Enter
wait_for "┌ Erin Endtoend"
wait_for "Conversations · all · /nobody-$stamp"
wait_for "vip $stamp"
press Escape Escape
wait_for "Conversations · all ─"

step "80x24: every tab on the first line"
tmux resize-window -t "$session" -x 80 -y 24
wait_for "^ 1 Inbox.* 2 Contacts.* 8 Bill"
wait_for "Conversations · all"
press '?'
wait_for "↓ [0-9]+ more  \\(j/k PgUp/PgDn scroll, Esc closes\\)"
press G
wait_for "q Ctrl-C +quit"
press Escape

step "quit"
press q y
for _ in $(seq 25); do tmux has-session -t "$session" 2>/dev/null || break; sleep 0.2; done

step "the owner's dashboards: each tab reachable, showing the demo business's data"
"$bin/wacrm" logout >/dev/null
WACRM_PASSWORD=demo-password "$bin/wacrm" --business demo@wacrm.test login --email owner@wacrm.test </dev/null
echo '{"name": "e2e pricing", "trigger": "message_received", "condition": {"contains": ["price"]},
       "action": {"add_tag": "pricing"}}' | "$bin/wacrm" automation add - >/dev/null
open_tui 100 30
wait_for '● live'
press 4
wait_for "● e2e pricing · message_received"
press t
wait_for "rule e2e pricing disabled"
wait_for "○ e2e pricing"
press 5
wait_for "#[0-9]+ Spring sale · spring_sale .*completed"
press 6
wait_for "order_update .*APPROVED"
wait_for "feedback_request .*PENDING"
press / o r d e r Enter
wait_for "Templates \\([0-9]+\\) · /order · Esc clears"
press Escape
wait_for "feedback_request .*PENDING"
press 7
wait_for "Funnel \\(reached in range\\)"
wait_for "Leads: [0-9]+ new"
press r
wait_for " last 7 days "
press 8
wait_for "Plan [A-Za-z]+ · active"
wait_for "conversations \\([0-9]+%\\)"
press N
wait_for "Notifications · j/k"
press Escape q
sleep 0.5
echo "PASS: tui-e2e"
