#!/usr/bin/env bash
# Runs the benchmark comparison (bench/compare.ts) and the GPU soak (bench/soak.ts)
# on a remote Linux x86-64 machine with an NVIDIA GPU and no network, writing
# everything to $OUT (./out when unset). Self-contained; expects, relative to the
# repo root:
#   .deno-carry/deno.gz                  a gzipped deno binary
#   .deno-carry/tfjs-4.22.0.bundle.js    TF.js bundled here beforehand (any bench/compare.ts
#                                        run with network builds it; without it TF.js is skipped)
#   .gl/*.deb                            Vulkan/GL loader packages
# Usage (from the repo root): bash bench/device_run.sh
# Budget: the whole run stays under 6 minutes (compare is capped at 270 s, the soak at 60 s).
# The CPU column is left out by default (device time is scarce and dezero's CPU backend is
# measured on the development machine); DEVICE_RUN_ARGS=--impls=cpu,gpu,tfjs brings it back.
# Dry run elsewhere: DEVICE_RUN_SKIP_GL=1 skips unpacking .gl/*.deb; DEVICE_RUN_ARGS adds
# arguments to compare.ts (e.g. "--quick --small") and DEVICE_RUN_SOAK_ARGS replaces the soak's.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
OUT="${OUT:-out}"
mkdir -p "$OUT"

main() {
  start=$(date +%s)
  echo "device_run: $(date -u +%FT%TZ) on $(hostname)"

  if [ -z "${DEVICE_RUN_SKIP_GL:-}" ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

  DENO=/tmp/deno-bench/deno
  mkdir -p /tmp/deno-bench
  gunzip -c .deno-carry/deno.gz >"$DENO" && chmod +x "$DENO" || { echo "no deno binary"; exit 1; }
  "$DENO" --version | head -1
  # An empty cache: every module is local (TF.js is one bundled file), nothing is fetched.
  export DENO_DIR=/tmp/deno-bench/cache
  export DENO_NO_UPDATE_CHECK=1

  probe() {
    "$DENO" eval --no-lock 'const a = await navigator.gpu?.requestAdapter();
      const i = a?.info;
      console.log("adapter:", i ? `${i.vendor} ${i.architecture} ${i.device} ${i.description}` : "none");
      Deno.exit(a ? 0 : 1);'
  }
  if ! probe; then
    echo "no adapter: retrying with the NVIDIA ICD"
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    probe || echo "still no adapter: the GPU columns will say so"
  fi

  tfjs=()
  [ -f .deno-carry/tfjs-4.22.0.bundle.js ] || { echo "no TF.js bundle: --no-tfjs"; tfjs=(--no-tfjs); }

  echo "== compare (full sizes) =="
  timeout 270 "$DENO" run -A --no-lock --cached-only --v8-flags=--expose-gc bench/compare.ts ${tfjs[@]+"${tfjs[@]}"} \
    --impls=gpu,tfjs --step-timeout=60 --out="$OUT/results.md" --json="$OUT/results.json" \
  ${DEVICE_RUN_ARGS:-}
  echo "compare exit: $?"

  echo "== soak (GPU, the issue's MLP) =="
  timeout 60 "$DENO" run -A --no-lock --cached-only bench/soak.ts ${DEVICE_RUN_SOAK_ARGS:---full} >"$OUT/soak.md" 2>&1
  echo "soak exit: $?"
  cat "$OUT/soak.md"

  echo "device_run: done in $(($(date +%s) - start)) s"
}

main 2>&1 | tee "$OUT/device_run.log"
