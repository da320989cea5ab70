#!/usr/bin/env bash
# make test-slurm: start a one-node SLURM cluster on localhost, send a reduced demo DAG to it
# through profiles/slurm, check that the jobs went through sbatch and the summary exists, and
# stop exactly the daemons this script started (and remove the configuration it wrote).
# Installs Debian's slurm and munge if missing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
export PATH="$(dirname "$python"):$PATH"
work=$(mktemp -d /tmp/ptapt-slurm.XXXXXX)
state=$work/state
pidfiles=()

config_files=()

stop_started() {
  local pids=()
  for pidfile in "${pidfiles[@]}"; do
    [ -f "$pidfile" ] && pids+=("$(cat "$pidfile")")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do  # wait until each has saved its state and gone
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  done
  for file in "${config_files[@]}"; do rm -f "$file"; done
}
trap stop_started EXIT

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm and munge (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge
fi

# munge authenticates SLURM's messages: reuse a running daemon, else start one.
if ! pgrep -x munged >/dev/null; then
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  [ -f /etc/munge/munge.key ] || mungekey --create
  runuser -u munge -- /usr/sbin/munged
  pidfiles+=(/run/munge/munged.pid)
fi

# The cluster: its own ports and state directories. The configuration must sit at the default
# path, because the plugin's job steps drop SLURM_* variables (SLURM_CONF included).
if [ -e /etc/slurm/slurm.conf ]; then
  echo "/etc/slurm/slurm.conf exists: this machine has a SLURM setup; not touching it" >&2
  exit 2
fi
mkdir -p /etc/slurm "$state/ctld" "$state/slurmd"
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
config_files+=(/etc/slurm/slurm.conf /etc/slurm/gres.conf)
sed -e "s|@STATE@|$state|g" -e "s|@CPUS@|$(nproc)|" -e "s|@MEM_MB@|$mem_mb|" \
    -e "s|@CTLD_PORT@|6917|" -e "s|@SLURMD_PORT@|6918|" \
    "$repo/tests/slurm/slurm.conf.in" > /etc/slurm/slurm.conf
cp "$repo/tests/slurm/gres.conf.in" /etc/slurm/gres.conf
/usr/sbin/slurmctld
pidfiles+=("$state/slurmctld.pid")
/usr/sbin/slurmd -N localhost
pidfiles+=("$state/slurmd.pid")
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo

# The reduced demo through profiles/slurm; the command line sizes jobs for this small node.
training="stage1 pretrain_backbone tapt ptapt finetune"
resources=()
for rule in $training; do
  resources+=("$rule:gpu=1" "$rule:slurm_partition=gpu" "$rule:mem_mb=2000")
done
threads=()
for rule in $training stage2 synth_corpus synth_generic_corpus; do threads+=("$rule=1"); done
mkdir -p "$work/dag"
cp "$repo/tests/slurm/config.yaml" "$work/dag/config.yaml"
start=$(date +%s)
"$python" -m snakemake results/mini/ptapt_summary.csv \
  --snakefile "$repo/Snakefile" --directory "$work/dag" \
  --configfile "$work/dag/config.yaml" --workflow-profile "$repo/profiles/slurm" \
  --jobs 4 --default-resources slurm_partition=cpu runtime=30 mem_mb=1000 \
  --set-resources "${resources[@]}" --set-threads "${threads[@]}" \
  --slurm-no-account --slurm-init-seconds-before-status-checks 5 --latency-wait 5 \
  --config software_env=ptapt 2>&1 | tee "$work/snakemake.log"
echo "DAG took $(( $(date +%s) - start )) s"

# Checks: every job but the local ones was an sbatch job that SLURM ran to completion.
submitted=$(grep -c "submitted with SLURM jobid" "$work/snakemake.log" || true)
completed=$(squeue --states=all -h -o "%i %T" | grep -c COMPLETED || true)
gpu_jobs=$(scontrol show job -o | grep -c "TresPerJob=gres:gpu:1" || true)
echo "sbatch submissions: $submitted, completed in squeue: $completed, with a GPU: $gpu_jobs"
test -s "$work/dag/results/mini/ptapt_summary.csv"
cat "$work/dag/results/mini/ptapt_summary.csv"
# 26 jobs: all but the two local ones (leakage check, summary) go through sbatch; the 15 training
# jobs (2 stage-1, backbone, 2 TAPT, 2 P-TAPT, 8 fine-tuning: probe, V-FT, TAPT, P-TAPT) hold a
# GPU; the 2 logmel jobs and the corpus, fold and stage-2 jobs do not.
test "$submitted" -eq 24 && test "$completed" -eq 24 && test "$gpu_jobs" -eq 15
echo "test-slurm: ok"
