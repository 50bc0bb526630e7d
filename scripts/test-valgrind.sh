#!/usr/bin/env bash
# recur-train under valgrind's memcheck: the tutorial model trained for one
# short epoch (64 images, batch 32, one thread) and saved, then loaded and
# evaluated, on a small copy of MNIST (64 training and 32 test images: valgrind
# runs this float code at roughly 1/500 of native speed). Both runs must end
# with no invalid read or write, no use of uninitialised memory and no
# definite or indirect leak. Third-party false positives (oneDNN's JIT code)
# are suppressed in tests/valgrind.supp; recur's own code never is.
# Usage: test-valgrind.sh BUILD_DIR [DATA_DIR]   (DATA_DIR default data/mnist)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:?usage: test-valgrind.sh BUILD_DIR [DATA_DIR]}" && pwd)/recur-train
data=${2:-${RECUR_MNIST_DIR:-$src/data/mnist}}
command -v valgrind > /dev/null || { echo "test-valgrind: valgrind is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# take NAME HEADER_BYTES RECORD_BYTES COUNT: the first COUNT records of
# DATA/NAME (or NAME.gz) into tmp/mnist/NAME, the header's count set to COUNT
take() {
  local f=$data/$1 n=$4
  if [[ ! -f $f ]]; then
    gzip -dc "$f.gz" > "$tmp/full"
    f=$tmp/full
  fi
  {
    head -c 4 "$f"
    printf "$(printf '\\%03o' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))"
    dd if="$f" iflag=skip_bytes,count_bytes skip=8 count=$(($2 - 8)) status=none
    dd if="$f" iflag=skip_bytes,count_bytes skip="$2" count=$((n * $3)) status=none
  } > "$tmp/mnist/$1"
}
mkdir "$tmp/mnist"
take train-images-idx3-ubyte 16 784 64
take train-labels-idx1-ubyte 8 1 64
take t10k-images-idx3-ubyte 16 784 32
take t10k-labels-idx1-ubyte 8 1 32

export OMP_NUM_THREADS=1 # idle OpenMP threads spinning under valgrind only cost time
memcheck() { # NAME ARGS...: recur-train ARGS under memcheck; the log is tmp/NAME.log
  local name=$1; shift
  local rc=0
  valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --suppressions="$src/tests/valgrind.supp" \
    --log-file="$tmp/$name.log" "$bin" --data "$tmp/mnist" --threads 1 --quiet "$@" \
    > "$tmp/out" 2> "$tmp/err" || rc=$?
  if ((rc)); then
    echo "FAIL: recur-train $* under valgrind exited $rc" >&2
    cat "$tmp/err" "$tmp/$name.log" >&2
    exit 1
  fi
  echo "$name: $(tail -n 1 "$tmp/out")"
  echo "$name: $(grep -o 'ERROR SUMMARY: .*' "$tmp/$name.log")"
}
memcheck train --limit 64 --epochs 1 --batch 32 --save "$tmp/model.recur"
memcheck load --load "$tmp/model.recur" --epochs 0
echo "valgrind memcheck passed"
