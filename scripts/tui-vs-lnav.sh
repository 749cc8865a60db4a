#!/usr/bin/env bash
# The interactive viewer beside lnav on the same events: `ttlog-view -i` on a
# snapshot and lnav on that snapshot's NDJSON export (with the format in
# scripts/lnav/, so that lnav parses times, levels and fields), each in a
# 200x50 tmux pane, until it is idle. Prints, per viewer, the time until its
# last busy moment (everything loaded and drawn) and its peak RSS (VmHWM).
#
#   cargo build --release --workspace
#   scripts/tui-vs-lnav.sh [SNAPSHOT]   # default: the 10 M-event file of
#                                       # `cargo run --release -p ttlog-cli --example bench_tui_engine`
#   scripts/tui-vs-lnav.sh DIR          # ttlog-view -i on a directory alone (the
#                                       # fleet set: its NDJSON export would be 24 GB)
#
# Prints one line and exits 0 when tmux, lnav or the release binary is missing.
set -u
cd "$(dirname "$0")/.."
snap=${1:-target/ttlog-tui-bench/10m.bin}
view=target/release/ttlog-view
for tool in tmux lnav; do
    command -v "$tool" >/dev/null 2>&1 || { echo "tui-vs-lnav: skipped, no $tool on PATH"; exit 0; }
done
[ -x "$view" ] || { echo "tui-vs-lnav: skipped, no $view (cargo build --release --workspace)"; exit 0; }
[ -e "$snap" ] || { echo "tui-vs-lnav: skipped, no $snap"; exit 0; }
ndjson=target/tui-vs-lnav/$(basename "${snap%.bin}").ndjson
mkdir -p target/tui-vs-lnav
if [ ! -d "$snap" ] && { [ ! -s "$ndjson" ] || [ "$snap" -nt "$ndjson" ]; } || [ "$snap" -nt "$ndjson" ]; then
    "$view" "$snap" --format ndjson > "$ndjson" || { echo "tui-vs-lnav: cannot export $snap"; exit 1; }
fi
home=$(mktemp -d)
trap 'rm -rf "$home"; tmux kill-session -t tui-vs-lnav 2>/dev/null' EXIT
mkdir -p "$home/.lnav/formats/installed"
cp scripts/lnav/ttlog_ndjson.json "$home/.lnav/formats/installed/"

# Runs a viewer in tmux until its CPU time stops moving for 2 s.
measure() {
    local name=$1 shown=$2
    shift 2
    tmux kill-session -t tui-vs-lnav 2>/dev/null
    local start last now cpu prev=-1 idle=0
    start=$(date +%s.%N)
    last=$start
    tmux new-session -d -s tui-vs-lnav -x 200 -y 50 "exec env HOME=$home TERM=xterm-256color $*"
    local pid
    pid=$(tmux list-panes -t tui-vs-lnav -F '#{pane_pid}')
    while [ "$idle" -lt 8 ] && [ -e "/proc/$pid" ]; do
        sleep 0.25
        cpu=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo "$prev")
        now=$(date +%s.%N)
        if [ "$cpu" -le $((prev + 1)) ] 2>/dev/null; then
            idle=$((idle + 1))
        else
            idle=0
            last=$now
        fi
        prev=$cpu
    done
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    printf '%-40s %6.1f s until idle   peak RSS %6d MB\n' "$name ($shown)" \
        "$(awk -v a="$last" -v b="$start" 'BEGIN {print a - b}')" "$(( ${hwm:-0} / 1024 ))"
    # What the viewer shows at that moment (its first and last lines).
    tmux capture-pane -p -t tui-vs-lnav | sed -n '1p;$p' | cut -c1-120 | sed 's/^/    | /'
    tmux kill-session -t tui-vs-lnav 2>/dev/null
}

if [ -d "$snap" ]; then
    echo "$snap: $(find "$snap" -name '*.bin' | wc -l) snapshots ($(du -sh "$snap" | cut -f1))"
    measure "ttlog-view -i" "directory" "$view" -i "$snap"
    exit 0
fi
events=$(wc -l < "$ndjson")
echo "$events events: $snap ($(du -h "$snap" | cut -f1)), $ndjson ($(du -h "$ndjson" | cut -f1))"
measure "ttlog-view -i" "snapshot" "$view" -i "$snap"
measure "lnav $(lnav -V | cut -d' ' -f2)" "NDJSON export" lnav "$ndjson"
