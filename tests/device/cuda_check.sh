#!/usr/bin/env bash
# The engine's first run on an NVIDIA GPU, in one command, for a machine with one GPU, PyTorch
# (2.x, CUDA) and a C++ compiler, but no GStreamer and no network:
#
#   bash tests/device/cuda_check.sh [--device cuda|cpu] [--work DIR] [--build DIR]
#
# 1. checks what the build needs and names everything missing at once;
# 2. configures the engine-only build (-Dgstreamer=disabled) against PyTorch's own libtorch;
# 3. compiles slowfast-cli, the unit tests and the benchmark helper with all cores;
# 4. runs the unit suite, the golden parity cases on the device (float32 within the golden
#    tolerances, bfloat16's first greedy id as the reference's) when they are here
#    (SLOWFAST_SHARED, ./shared or ../shared holding golden/);
# 5. times vision (the release's ConvNeXt widths at 576 px, depths [1, 1, 3, 1], 16 frames),
#    prefill and decode of a Qwen2-0.5B-shaped decoder, random bf16 weights written by
#    make_random_checkpoint --shape half-billion, and prints a table with the GPU's name.
#
# Every step prints "== step N: ..."; a failure ends the run with "cuda_check: FAILED at step N
# (...)" and the reason. About 5 minutes on 16 cores. It copies nothing from outside the
# repository and writes only under --work (default /tmp/slowfast-cuda-check).
#
# Where the system lacks a library (nlohmann-json, PCRE2, ICU, gtest, pkg-config), put its
# Debian/Ubuntu .deb files in tests/device/debs/ (git-ignored; `apt-get download PACKAGE` on a
# machine with a network): they are unpacked under --work and used from there.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
device=cuda
work=/tmp/slowfast-cuda-check
build=
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "cuda_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$device" in cuda|cpu) ;; *) echo "cuda_check: --device must be cuda or cpu" >&2; exit 2 ;; esac
build=${build:-$work/build}
mkdir -p "$work"
log=$work/log.txt
: >"$log"

step_number=0
step_name=
step() {
  step_number=$((step_number + 1))
  step_name=$1
  echo "== step $step_number: $step_name" | tee -a "$log"
}
fail() {
  echo "cuda_check: FAILED at step $step_number ($step_name): $*" | tee -a "$log"
  echo "cuda_check: the whole log is $log"
  exit 1
}
started=$(date +%s)

step "prerequisites"
python=${PYTHON:-python3}
missing=()
torch_version=none torch_cuda=none cxx11_abi=1
if ! torch_dir=$("$python" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null); then
  torch_dir=
  if [ "$device" = cuda ]; then
    missing+=("PyTorch (python3 -c 'import torch' fails; set PYTHON to the interpreter that has it)")
  else
    echo "no PyTorch: --device cpu builds against the system's libtorch"
  fi
fi
if [ -n "$torch_dir" ]; then
  torch_info=$("$python" -c '
import torch
print(torch.__version__, torch.version.cuda or "none", int(torch.cuda.is_available()),
      int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null)
  read -r torch_version torch_cuda cuda_available cxx11_abi <<<"$torch_info"
  echo "PyTorch $torch_version (CUDA $torch_cuda) in $torch_dir; C++11 ABI $cxx11_abi"
  [ "${torch_version%%.*}" -ge 2 ] 2>/dev/null || missing+=("PyTorch >= 2 (found $torch_version)")
  if [ "$device" = cuda ] && [ "$cuda_available" != 1 ]; then
    missing+=("a GPU PyTorch can use (torch.cuda.is_available() is False)")
  fi
  [ "$cxx11_abi" = 1 ] || echo "note: a pre-C++11-ABI PyTorch: the system's gtest will not link"
fi
# Libraries from tests/device/debs/, if any, unpacked once.
prefix=$work/prefix
if compgen -G "$here/tests/device/debs/*.deb" >/dev/null; then
  mkdir -p "$prefix"
  for deb in "$here"/tests/device/debs/*.deb; do dpkg-deb -x "$deb" "$prefix" || fail "unpacking $deb"; done
  multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  export PATH=$prefix/usr/bin:$PATH
  export PKG_CONFIG_PATH=$prefix/usr/lib/$multiarch/pkgconfig:$prefix/usr/share/pkgconfig:$prefix/usr/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export LD_LIBRARY_PATH=$prefix/usr/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export CPATH=$prefix/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=$prefix/usr/lib/$multiarch${LIBRARY_PATH:+:$LIBRARY_PATH}
  export PKG_CONFIG_SYSROOT_DIR=
  # The .pc files say prefix=/usr: point them at the unpacked tree.
  export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1
  for pc in "$prefix"/usr/lib/"$multiarch"/pkgconfig/*.pc "$prefix"/usr/share/pkgconfig/*.pc; do
    [ -f "$pc" ] && sed -i "s#^prefix=/usr\$#prefix=$prefix/usr#" "$pc"
  done
  echo "using the libraries unpacked from tests/device/debs/ in $prefix"
fi
for tool in meson ninja c++ pkg-config; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if command -v pkg-config >/dev/null; then
  for module in nlohmann_json libpcre2-8 icu-uc gtest; do
    pkg-config --exists "$module" || missing+=("$module (pkg-config module)")
  done
fi
if [ "$device" = cuda ]; then
  gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null |
    head -1) || true
  [ -n "$gpu" ] || missing+=("nvidia-smi (or it sees no GPU)")
else
  gpu="none (--device cpu: $(nproc) CPU threads)"
fi
if [ ${#missing[@]} -gt 0 ]; then
  printf '  missing: %s\n' "${missing[@]}" | tee -a "$log"
  fail "${#missing[@]} prerequisite(s) missing (listed above)"
fi
echo "GPU: $gpu"

step "configure the engine-only build against PyTorch's libtorch"
if [ ! -f "$build/build.ninja" ]; then
  libtorch_args=()
  if [ -n "$torch_dir" ]; then
    libtorch_args=(-Dlibtorch="$torch_dir"
      -Dlibtorch-cxx11-abi="$([ "$cxx11_abi" = 1 ] && echo true || echo false)")
  fi
  meson setup "$build" "$here" -Dgstreamer=disabled -Dtests=enabled "${libtorch_args[@]}" \
    >>"$log" 2>&1 || { tail -30 "$log"; fail "meson setup (see above)"; }
fi
grep -m1 "libtorch C++ ABI" "$build/meson-logs/meson-log.txt" || true

step "compile with $(nproc) cores"
targets=(slowfast-cli unit_core unit_vision unit_text unit_engine unit_tokenizer
  make_random_checkpoint)
compile_start=$(wc -l <"$log")
meson compile -C "$build" -j "$(nproc)" "${targets[@]}" >>"$log" 2>&1 ||
  { tail -n +"$compile_start" "$log" | grep -A12 -m3 "error" | tail -40
    fail "compilation (first errors above)"; }

step "unit tests and golden parity on $device"
shared=${SLOWFAST_SHARED:-}
for candidate in "$shared" "$here/shared" "$here/../shared"; do
  if [ -n "$candidate" ] && [ -d "$candidate/golden" ]; then shared=$candidate; break; fi
done
if [ -n "$shared" ] && [ -d "$shared/golden" ]; then
  echo "golden cases: $(cd "$shared/golden" && ls -d */ | tr -d / | tr '\n' ' ')from $shared"
else
  shared=$work/no-shared
  echo "golden cases: none here, so no parity on $device (put golden/ in ./shared or set" \
    "SLOWFAST_SHARED)"
fi
SLOWFAST_SHARED=$shared SLOWFAST_TEST_DEVICE=$device \
  meson test -C "$build" --no-rebuild --suite unit --num-processes 4 --print-errorlogs \
  >>"$log" 2>&1
tests_status=$?
grep -E "^ *[0-9]+/[0-9]+ .*(OK|FAIL|SKIP|TIMEOUT|ERROR)" "$log" | tail -20
grep -E "rel L2|greedy ids agree" "$build/meson-logs/testlog.txt" 2>/dev/null | sort -u | head -20
[ $tests_status -eq 0 ] || fail "unit tests (failures above; $build/meson-logs/testlog.txt)"

step "time vision, prefill and decode (random bf16 weights)"
model=$work/half-billion
if [ ! -f "$model/config.json" ]; then
  "$build/tests/bench/make_random_checkpoint" checkpoint "$model" --shape half-billion \
    --tokenizer "$here/model/demo/tokenizer.json" >>"$log" 2>&1 || fail "writing $model"
fi
frames=$work/frames-16.npy
"$build/tests/bench/make_random_checkpoint" frames "$frames" --count 16 >>"$log" 2>&1 ||
  fail "writing $frames"
run_cli() {
  "$build/model/cli/slowfast-cli" run --model "$model" --frames "$frames" \
    --prompt "Describe what happens in the video." --max-new-tokens 64 --temperature 0 \
    --dtype bfloat16 --device "$device" --timings >"$work/answer.txt" 2>"$1"
}
# The first run pays CUDA's start-up and kernel selection; the second is the one reported.
run_cli "$work/timings-warmup.txt" || { cat "$work/timings-warmup.txt"; fail "slowfast-cli run"; }
run_cli "$work/timings.txt" || { cat "$work/timings.txt"; fail "slowfast-cli run"; }
value() { grep -o "$1=[0-9.e+-]*" "$work/timings.txt" | head -1 | cut -d= -f2; }

step "report"
printf '\nGPU: %s\nPyTorch %s (CUDA %s); device %s, bfloat16\n\n' "$gpu" "$torch_version" \
  "$torch_cuda" "$device"
printf '| what | measured |\n| --- | --- |\n'
printf '| load (config, tokenizer, %s) | %s s |\n' "$(du -sh "$model" | cut -f1)" "$(value load_s)"
printf '| vision: ConvNeXt widths 384-3072, depths [1, 1, 3, 1], 576 px, %s frames | %s s (%s s/frame) |\n' \
  "$(value frames)" "$(value vision_s)" "$(value vision_s_per_frame)"
printf '| prefill, %s tokens (%s visual) | %s s = %s tokens/s |\n' "$(value prompt_tokens)" \
  "$(value visual_tokens)" "$(value prefill_s)" "$(value prefill_tokens_per_s)"
printf '| decode, Qwen2-0.5B shapes, %s steps | %s s = %s tokens/s |\n' "$(value decode_steps)" \
  "$(value decode_s)" "$(value decode_tokens_per_s)"
printf '| peak host RSS | %s GiB |\n' \
  "$(awk -v b="$(value peak_rss_bytes)" 'BEGIN { printf "%.2f", b / 2^30 }')"
echo
echo "cuda_check: passed in $(($(date +%s) - started)) s"
