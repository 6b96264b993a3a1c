#!/bin/bash
# Frozen ResNet50 forward (C2..C5), 512x512, batch 8, 2 threads: kcv against
# PyTorch (Debian's python3-torch: channels_last + torch.jit.freeze, glibc
# malloc told to keep freed memory), and OpenBLAS's own sgemm GFLOP/s on
# large matrices, all in one run. Run from the build tree: bench/backbone.sh
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
batch=${BATCH:-8}
size=${SIZE:-512}
repeat=${REPEAT:-3}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/kcv-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "# $(date -u +%F) $(uname -m), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), OpenBLAS kernels: $(./kcv --version | sed -n 's/.*OpenBLAS \([^ ]*\).*/\1/p')"
gcc -O2 -o "$tmp/sgemm" bench/sgemm.c $(pkg-config --cflags --libs openblas)
sgemm=$("$tmp/sgemm" 4096 "$threads" 3 | sed -n 's/.*"gflops": \([0-9.]*\).*/\1/p')

"$py" -c "
import sys; sys.path.insert(0, 'tests'); import st_io, numpy as np
np.random.seed(0)
st_io.save('$tmp/in.safetensors', {'images': (np.random.rand($batch, $size, $size, 3) * 255).astype(np.float32)})"
/usr/bin/time -f '%M' -o "$tmp/kcv.rss" ./kcv features --backbone resnet50 --input "$tmp/in.safetensors" \
	--out "$tmp/out.safetensors" --threads "$threads" --repeat "$repeat" 2>"$tmp/kcv.err"
line=$(grep '^kcv: resnet50' "$tmp/kcv.err")
kcv_ips=$(echo "$line" | sed -n 's/.* \([0-9.]*\) images\/s.*/\1/p')
kcv_gflops=$(echo "$line" | sed -n 's/.* \([0-9.]*\) GFLOP\/s.*/\1/p')
kcv_rss=$(( $(cat "$tmp/kcv.rss") / 1024 ))

torch=$(OMP_NUM_THREADS=$threads MALLOC_MMAP_THRESHOLD_=17179869184 MALLOC_TRIM_THRESHOLD_=17179869184 \
	MALLOC_TOP_PAD_=1073741824 "$py" bench/backbone_torch.py "$threads" "$batch" "$size" "$repeat")
read -r t_ips t_rss < <(echo "$torch" | "$py" -c 'import json,sys; d=json.load(sys.stdin); print("%.2f %.0f" % (d["images_per_s"], d["peak_rss_mb"]))')
gflop_per_image=$("$py" -c "print($kcv_gflops / $kcv_ips)")
t_gflops=$("$py" -c "print('%.1f' % ($t_ips * $gflop_per_image))")

printf '%-32s %12s %10s %12s %14s\n' "side" "images/s" "GFLOP/s" "peak RSS MB" "of sgemm peak"
printf '%-32s %12s %10s %12s %13.0f%%\n' "kcv (Winograd/im2col, own GEMM)" "$kcv_ips" "$kcv_gflops" "$kcv_rss" "$("$py" -c "print(100 * $kcv_gflops / $sgemm)")"
printf '%-32s %12s %10s %12s %13.0f%%\n' "PyTorch $("$py" -c 'import torch; print(torch.__version__)') (oneDNN)" "$t_ips" "$t_gflops" "$t_rss" "$("$py" -c "print(100 * $t_gflops / $sgemm)")"
printf '%-32s %12s %10s\n' "OpenBLAS sgemm 4096^3" "" "$sgemm"
