#!/usr/bin/env bash
# Real PNG screenshots of the interactive viewer, for the README: the viewer
# runs in tmux inside an xterm on a virtual X display (Xvfb); tmux send-keys
# drives it and ImageMagick's `import` captures the window.
#
#   scripts/screenshots.sh                 # ttlog-view -i
#
# Needs: tmux xvfb xterm imagemagick x11-utils fonts-dejavu-core
#   (apt-get install -y tmux xvfb xterm imagemagick x11-utils fonts-dejavu-core)
# Writes screenshots/{main,filter,group-by,detail,last-moments,rings}.png.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in tmux Xvfb xterm import xwininfo; do
    command -v "$tool" >/dev/null || { echo "screenshots: $tool is missing (see the top of $0)" >&2; exit 2; }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q -p ttlog-cli --bins --example bench_tui_engine
VIEWER=${VIEWER:-$CARGO_TARGET_DIR/debug/ttlog-view}
VIEWER_ARGS=${VIEWER_ARGS--i}
SHOT_FILTER=${SHOT_FILTER:-level>=warn and venue=XNAS}

work=$(mktemp -d)
display=:$((90 + RANDOM % 9))
session=ttlog-shots-$$
cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    [ -n "${xterm_pid:-}" ] && kill "$xterm_pid" 2>/dev/null || true
    [ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A service's snapshot: 300 000 events over about a second, with a burst of
# rejected orders.
"$CARGO_TARGET_DIR/debug/examples/bench_tui_engine" --generate "$work/orders-demo.bin" 300000

cols=150 rows=42
Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
sleep 1
tmux new-session -d -s "$session" -x "$cols" -y "$rows" \
    "TERM=xterm-256color $VIEWER $VIEWER_ARGS $work/*.bin; sleep 600"
tmux set-option -t "$session" status off >/dev/null
DISPLAY=$display xterm -geometry "${cols}x${rows}+0+0" -fa 'DejaVu Sans Mono' -fs 10 \
    -bg '#101418' -fg '#d8dee9' -title ttlog-view -e tmux attach -t "$session" &
xterm_pid=$!

wait_for() { # text on the screen
    for _ in $(seq 100); do
        tmux capture-pane -p -t "$session" | grep -qF -- "$1" && return 0
        sleep 0.2
    done
    echo "screenshots: timed out waiting for '$1'" >&2
    tmux capture-pane -p -t "$session" >&2
    exit 1
}
keys() { tmux send-keys -t "$session" "$@"; sleep 0.4; }
shot() {
    sleep 0.8
    local id
    id=$(DISPLAY=$display xwininfo -root -tree | awk '/"ttlog-view"/ {print $1; exit}')
    DISPLAY=$display import -window "$id" "screenshots/$1.png"
    echo "screenshots/$1.png"
}

mkdir -p screenshots
wait_for "shown 300 000"
keys G; keys g; for _ in $(seq 12); do keys j; done
shot main

keys f; tmux send-keys -t "$session" -l "$SHOT_FILTER"; sleep 1
wait_for "filter: $SHOT_FILTER"
shot filter
keys Enter

keys f; keys C-u; keys Enter
keys b; keys j; keys Enter
wait_for "groups by target"
keys j
shot group-by
keys q; keys q

keys e; keys e; keys Enter
wait_for "event "
keys /; tmux send-keys -t "$session" -l 'XNAS'; keys Enter
shot detail
keys Enter

# The last moments of every thread, then what filled the rings (the end of
# the stats screen).
keys L
wait_for "── "
shot last-moments
keys q
keys s
wait_for "what filled the rings"
keys G
shot rings
keys q
