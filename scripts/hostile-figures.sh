#!/usr/bin/env bash
# Runs ttlog-view on the hostile files of issue 20 (written by the example
# hostile_files) and prints, per class, the input's size, the exit code, the
# lines on stderr and the peak memory (GNU time's %M), for the README and
# the issue's note:
#
#   scripts/hostile-figures.sh [VIEWER]     # default target/release/ttlog-view
#
# Needs GNU time (/usr/bin/time); prints one skip line without it.
set -u
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
    echo "hostile-figures: skipped, no /usr/bin/time"
    exit 0
fi
view=${1:-target/release/ttlog-view}
dir=target/hostile
cargo run -q --release --locked -p ttlog-core --example hostile_files -- "$dir" >/dev/null
run() { # label, then ttlog-view's arguments
    local label=$1
    shift
    local err=$dir/stderr.txt
    /usr/bin/time -f '%M %e' -o "$dir/time.txt" "$view" "$@" >/dev/null 2>"$err"
    local code=$?
    read -r kb secs < <(tail -n 1 "$dir/time.txt")
    printf '| %s | `%s` | %s | %s | %.0f MB | %s s |\n' "$label" "$*" "$code" "$(wc -l <"$err")" "$((kb / 1000))" "$secs"
}
size() { du -h --apparent-size "$1" | cut -f1; }
echo "| input | command | exit | stderr lines | peak RSS | time |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
run "255 frames claiming 16.7 M events each ($(size $dir/claims-255.bin))" "$dir/claims-255.bin" --stats
run "255 frames claiming 16.7 M events each, as CSV" "$dir/claims-255.bin" --format csv
run "8 decompression bombs of 32 MiB ($(size $dir/bombs-8.bin))" "$dir/bombs-8.bin" --stats
run "65.5 M identical events ($(size $dir/compressible-1k.bin))" "$dir/compressible-1k.bin" --stats
run "65.5 M identical events, all loaded" "$dir/compressible-1k.bin" --stats --tail 5
run "ttlog 0.1 file declaring 1 GiB ($(size $dir/legacy-1gib.bin))" "$dir/legacy-1gib.bin" --stats --memory-limit 512MiB
run "ttlog 0.1 file declaring 1 GiB, room for it" "$dir/legacy-1gib.bin" --stats --memory-limit 4GiB
run "/dev/zero" /dev/zero --stats
run "5,000 empty files" "$dir/empty" --stats
run "hostile names, CSV" "$dir/names.bin" --format csv
run "counters near 2^64" "$dir/counters.bin" --stats
