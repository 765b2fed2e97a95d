#!/bin/sh
# Which stack `make setup` installs: "gpu" when an NVIDIA GPU answers `nvidia-smi -L`,
# else "cpu". ASSAY_ACCEL=gpu|cpu forces the choice (a machine whose driver is not up yet,
# or a GPU machine that should run the CPU stack).
case "${ASSAY_ACCEL:-}" in
  gpu | cpu) echo "$ASSAY_ACCEL"; exit 0 ;;
  "") ;;
  *) echo "ASSAY_ACCEL must be gpu or cpu, not '$ASSAY_ACCEL'" >&2; exit 2 ;;
esac
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo gpu
else
  echo cpu
fi
