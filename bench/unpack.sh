#!/bin/sh
# Unpack benchmark: berth-unpack against `umoci unpack` and `tar -xzf` of the same layers, in
# one run, on a generated image of 100 MB+ (3 gzip layers, ~12,000 files, a whiteout).
#
#   bench/run.sh unpack      ($BENCH_RUNS runs each, default 7; the image is made once)
#
# Figures (medians, as ratios; RESULT lines):
#   unpack-first-umoci   berth-unpack IMAGE (empty layer store)  vs  umoci unpack. Target <= 0.5x.
#   unpack-first-tar     the same                                 vs  tar -xzf of the 3 layers.
#                        Target <= 1.0x.
#   unpack-second        a second container from the already-unpacked image  vs  the first
#                        unpack. Target <= 0.05x.
# peers: umoci hyperfine python3
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
RUNS=$BENCH_RUNS
BIN=$BERTH_BIN
WORK=${BENCH_DIR:-/var/tmp/berth-bench-unpack}
IMG=$WORK/layout
mkdir -p "$WORK"

if [ ! -f "$IMG/.complete" ]; then
  echo "bench: generating the 100 MB+ image in $IMG (once)" >&2
  rm -rf "$IMG" "$WORK/gen"
  umoci init --layout "$IMG"
  umoci new --image "$IMG:big"
  for layer in 1 2 3; do
    umoci unpack --image "$IMG:big" "$WORK/gen" >/dev/null
    python3 - "$WORK/gen/rootfs" "$layer" <<'PY'
import os, random, sys
root, layer = sys.argv[1], int(sys.argv[2])
rnd = random.Random(layer)
words = [("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10)))) for _ in range(5000)]
def text(n):
    out, size = [], 0
    while size < n:
        w = rnd.choice(words); out.append(w); size += len(w) + 1
    return (" ".join(out))[:n].encode()
if layer == 1:   # a distribution: many small text files in deep trees, ~60 MB
    for d in range(60):
        base = os.path.join(root, "usr/share", f"pkg{d:02}", "doc", "lib")
        os.makedirs(base, exist_ok=True)
        for f in range(150):
            with open(os.path.join(base, f"f{f:03}.txt"), "wb") as fh:
                fh.write(text(rnd.randint(200, 12000)))
        if not os.path.lexists(os.path.join(base, "latest")):
            os.symlink("f000.txt", os.path.join(base, "latest"))
elif layer == 2: # binaries: fewer, larger, partly compressible, ~45 MB
    os.makedirs(os.path.join(root, "opt/app/bin"), exist_ok=True)
    for f in range(30):
        with open(os.path.join(root, "opt/app/bin", f"prog{f:02}"), "wb") as fh:
            fh.write(os.urandom(700_000) + text(800_000))
        os.chmod(os.path.join(root, "opt/app/bin", f"prog{f:02}"), 0o755)
else:            # an update: changed and deleted files, ~10 MB
    for d in range(0, 60, 3):
        base = os.path.join(root, "usr/share", f"pkg{d:02}", "doc", "lib")
        os.remove(os.path.join(base, "f001.txt"))
        with open(os.path.join(base, "f002.txt"), "wb") as fh:
            fh.write(text(100_000))
    os.makedirs(os.path.join(root, "etc/app"), exist_ok=True)
    for f in range(100):
        with open(os.path.join(root, "etc/app", f"c{f}.conf"), "wb") as fh:
            fh.write(text(20000))
PY
    umoci repack --image "$IMG:big" "$WORK/gen" >/dev/null
    rm -rf "$WORK/gen"
  done
  umoci config --image "$IMG:big" --config.cmd sh >/dev/null
  umoci gc --layout "$IMG"
  touch "$IMG/.complete"
fi

# A berth store holding the image (blobs hard-linked from the layout).
ROOT=$WORK/root
RUN=$WORK/run
LAYERS=$WORK/layers-for-tar
if [ ! -f "$ROOT/.seeded" ]; then
  rm -rf "$ROOT" "$LAYERS"; mkdir -p "$ROOT/images" "$LAYERS"
  cp -al "$IMG/blobs" "$ROOT/images/blobs"
  cp "$IMG/oci-layout" "$ROOT/images/"
  sed 's/"org.opencontainers.image.ref.name":"big"/"org.opencontainers.image.ref.name":"big:latest"/' \
    "$IMG/index.json" > "$ROOT/images/index.json"
  python3 - "$IMG" "$LAYERS" <<'PY'
import json, os, sys
img, out = sys.argv[1], sys.argv[2]
idx = json.load(open(f"{img}/index.json"))
m = json.load(open(f"{img}/blobs/sha256/" + idx["manifests"][0]["digest"].split(":")[1]))
for i, l in enumerate(m["layers"]):
    os.link(f"{img}/blobs/sha256/" + l["digest"].split(":")[1], f"{out}/{i}.tar.gz")
PY
  touch "$ROOT/.seeded"
fi
export BERTH_ROOT="$ROOT" BERTH_RUN_ROOT="$RUN"
SIZE=$(du -sh --apparent-size "$IMG/blobs" | cut -f1)
echo "bench: image of $SIZE compressed, $(find "$LAYERS" -mindepth 1 -maxdepth 1 | wc -l) layers; $RUNS runs each" >&2

clean_berth() {
  for d in "$ROOT"/containers/*; do
    if [ -d "$d" ]; then "$BIN/berth-unpack" rm "$(basename "$d")" >/dev/null 2>&1 || true; fi
  done
}
clean_berth
cat > "$WORK/reset-berth.sh" <<SH
#!/bin/sh
for d in "$ROOT"/containers/*; do [ -d "\$d" ] && BERTH_ROOT=$ROOT BERTH_RUN_ROOT=$RUN "$BIN/berth-unpack" rm "\$(basename "\$d")" >/dev/null 2>&1; done
rm -rf "$ROOT/layers" "$ROOT/locks"; sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
SH
cat > "$WORK/tar-all.sh" <<SH
#!/bin/sh
set -e
mkdir -p "$WORK/tar-out"
for l in \$(ls "$LAYERS" | sort -n); do tar -xzf "$LAYERS/\$l" -C "$WORK/tar-out"; done
SH
chmod +x "$WORK/reset-berth.sh" "$WORK/tar-all.sh"

hyperfine --runs "$RUNS" --style basic --export-json "$WORK/first.json" \
  --prepare "$WORK/reset-berth.sh" \
  -n berth "$BIN/berth-unpack big" \
  --prepare "rm -rf $WORK/umoci-bundle; sync" \
  -n umoci "umoci unpack --image $IMG:big $WORK/umoci-bundle" \
  --prepare "rm -rf $WORK/tar-out; sync" \
  -n tar "$WORK/tar-all.sh" >&2

"$BIN/berth-unpack" big >/dev/null   # layers are now unpacked
hyperfine --runs "$RUNS" --style basic --export-json "$WORK/second.json" \
  -n berth-second "$BIN/berth-unpack big" >&2
clean_berth
rm -rf "$WORK/umoci-bundle" "$WORK/tar-out"

# The medians: berth, umoci, tar (first unpack), berth's second container (four words).
# shellcheck disable=SC2046
set -- $(python3 - "$WORK/first.json" "$WORK/second.json" <<'PY'
import json, sys
first = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
second = json.load(open(sys.argv[2]))["results"][0]
print(*(first[k]["median"] for k in ("berth", "umoci", "tar")), second["median"])
PY
)
echo "unpack: first unpack (median): berth $1 s, umoci $2 s, tar -xzf $3 s; second container $4 s" >&2
result unpack-first-umoci "$1" "$2" umoci
result unpack-first-tar "$1" "$3" tar
result unpack-second "$4" "$1" berth-first
