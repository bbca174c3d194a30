#!/usr/bin/env bash
# The model loop, end to end, on one machine with real commands: a collector (CURVE) and two
# cameras streaming; reviewers verify frames; a candidate model is registered, scored against the
# current one on the verified frames per class, canaried to one camera, watched in the field, and
# rolled back. Everything lives in a temporary directory, removed at the end (KEEP=1 keeps it).
#
#   deploy/examples/model_loop.sh 2>&1 | tee model_loop.log      # about 2 minutes on 2 cores
#
# Needs edgelabel-collector and edgelabel-agent on PATH (pip install 'edgelabel[edge]'), python3
# with httpx (the scripted reviewer), and the shared test data: SHARED=/path/to/shared (model
# models/yolox_nano.onnx; footage data/coco128 and data/mot/TUD-Campus, which have ground truth).
# The cameras replay image folders at a camera's pace: cam-01 the 128 COCO128 photos, cam-02 the
# 71 TUD-Campus frames. No GPU and no internet here, so "training" is replaced by a float16 copy of
# the current model made with `edgelabel-agent quantize` (same weights, another file and model id).
set -euo pipefail

SHARED=${SHARED:-/work/shared}
DATA=$SHARED/data
MODEL=$SHARED/models/yolox_nano.onnx
PY=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d -t edgelabel-model-loop.XXXXXX)
DIR=$WORK/collector
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "${KEEP:-}" ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Read JSON on stdin and print what a Python expression over it (`d`) says.
jq_py() { $PY -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
# Wait (at most $2 seconds) until the shell condition $1 holds; say what we waited for.
wait_for() {
  local deadline=$((SECONDS + $2))
  until eval "$1"; do
    if ((SECONDS > deadline)); then echo "gave up waiting for: $3" >&2; exit 1; fi
    sleep 1
  done
  echo "($3 after ${SECONDS}s of the walkthrough)"
}
frames_of() {  # frames stored from device $1 labeled by weights id $2
  edgelabel-collector stats --data-dir "$DIR" --json |
    jq_py "sum(r['frames'] for r in d['field'] if r['device'] == '$1' and r['model_id'].startswith('$2'))"
}
field_rows_of() {  # how many stretches of frames, one model each, device $1 has
  edgelabel-collector stats --data-dir "$DIR" --json | jq_py "len([r for r in d['field'] if r['device'] == '$1'])"
}
deployment_state() {  # the state of device $1's newest deployment
  edgelabel-collector models status --device "$1" --data-dir "$DIR" --json | jq_py "d[0]['deployment']['state']"
}
review() {
  REVIEWER_PASSWORD='walkthrough passphrase' run $PY "$HERE/review_from_ground_truth.py" --url "http://$HTTP" \
    --user alice \
    --coco cam-01 "$DATA/coco128/annotations/instances_train2017.json" "$DATA/coco128/images/train2017" \
    --mot cam-02 "$DATA/mot/TUD-Campus/gt/gt.txt"
}

INGEST=tcp://127.0.0.1:$(free_port)
HTTP=127.0.0.1:$(free_port)

step "1. A collector: data directory, CURVE key pair, model-signing key; a reviewer account"
run edgelabel-collector init --data-dir "$DIR"
printf '%s\n' 'walkthrough passphrase' | run edgelabel-collector users add alice --role reviewer --data-dir "$DIR"

step "2. Two cameras: a credentials file each (its keys, the collector's key, the model-signing key)"
for cam in cam-01 cam-02; do
  run edgelabel-collector keys add-device "$cam" --data-dir "$DIR" --endpoint "$INGEST" --out "$WORK/$cam.toml"
done

step "3. The model the cameras run now, registered"
run edgelabel-collector models add "$MODEL" --data-dir "$DIR"

step "4. serve: frames over CURVE on $INGEST, the review UI and API on http://$HTTP"
edgelabel-collector serve --data-dir "$DIR" --ingest "$INGEST" --http "$HTTP" >"$WORK/serve.out" 2>"$WORK/serve.log" &
PIDS+=($!)
wait_for "grep -q '^listening on' '$WORK/serve.out'" 60 "the collector listening"

step "5. The agents, pre-labeling with the current model and streaming kept frames (heartbeat every 2 s)"
agent() {  # device, source, image fps
  edgelabel-agent run --source "$2" --image-fps "$3" --pace 1 --model "$MODEL" --credentials "$WORK/$1.toml" \
    --spool-dir "$WORK/$1" --status-interval 2 --min-gap 0.5 --max-gap 1 --keyframes-per-minute 0 \
    --megabytes-per-hour 0 --threads 1 >"$WORK/$1.out" 2>"$WORK/$1.log" &
  PIDS+=($!)
  echo "started edgelabel-agent run --source $2 --image-fps $3 ... for $1 (pid $!)"
}
agent cam-01 "$DATA/coco128/images/train2017" 1
agent cam-02 "$DATA/mot/TUD-Campus/img1" 0.6
wait_for "(( \$(frames_of cam-01 yolox_nano) >= 12 && \$(frames_of cam-02 yolox_nano) >= 8 ))" 120 \
  "12 frames from cam-01 and 8 from cam-02"

step "6. Reviewers verify the frames (scripted: pre-labels kept when ground truth agrees, else corrected)"
review

step "7. A candidate model: export the verified frames to train on, then register the ONNX"
run edgelabel-collector export yolo --data-dir "$DIR" --out "$WORK/export"
# (training would go here: yolo detect train data=$WORK/export/data.yaml ...; offline, a float16
# copy of the current model stands in for the trained one; it agrees with float32 within about 2
# points on TUD-Campus frames, so the budget is widened from its default 1 to 5)
run edgelabel-agent quantize --model "$MODEL" --target fp16 --calibration "$DATA/mot/TUD-Campus/img1" \
  --calibration-frames 10 --eval-frames 10 --max-loss 5 --out "$WORK/cams-v2.onnx" --no-progress -q
run edgelabel-collector models add "$WORK/cams-v2.onnx" --name cams-v2 --data-dir "$DIR"
CANDIDATE_ID=$(edgelabel-collector models list --data-dir "$DIR" --json |
  jq_py "next(m['model_id'] for m in d if m['name'] == 'cams-v2')")

step "8. Meanwhile more frames arrived; reviewers verify them too: frames the candidate never trained on"
review

step "9. Does it beat the current model on our own verified frames, per class? (HTML + JSON report)"
# --exclude-from: the export it was trained on (its manifest lists the frame ids); the rest are scored
run edgelabel-collector models evaluate cams-v2 --baseline yolox_nano --exclude-from "$WORK/export" \
  --report "$WORK/eval" --data-dir "$DIR"
ls "$WORK/eval"

step "10. Canary: half of the cameras (one of two) get cams-v2 with their next heartbeat"
run edgelabel-collector models deploy cams-v2 --all --canary 50 --data-dir "$DIR"
CANARY=$(edgelabel-collector models status --data-dir "$DIR" --json |
  jq_py "next(s['device'] for s in d if s['deployment'] and s['deployment']['name'] == 'cams-v2')")
wait_for "[[ \$(deployment_state $CANARY) == running ]]" 120 "$CANARY running cams-v2"
run edgelabel-collector models status --data-dir "$DIR"

step "11. Frames from the canary pre-labeled by cams-v2 arrive; reviewers verify them"
wait_for "(( \$(frames_of $CANARY $CANDIDATE_ID) >= 5 ))" 120 "5 frames from $CANARY by cams-v2"
review

step "12. Watch it in the field: reviewer precision per camera and model (the dashboard's 'Models in the field')"
run edgelabel-collector models list --data-dir "$DIR"
run edgelabel-collector stats --data-dir "$DIR"
echo "stats --json's field (what the dashboard draws), a few keys of each row:"
edgelabel-collector stats --data-dir "$DIR" --json | jq_py "'\n'.join(json.dumps({k: r[k] for k in
  ('device', 'model_id', 'frames', 'verified_frames', 'precision', 'correction_rate', 'change')}) for r in d['field'])"

# Here the decision: `models deploy cams-v2 --all` rolls it out to every camera, `models rollback`
# takes the canary back. (cam-01's photos are unrelated pictures, so its precision moves with the
# pictures as much as with the model: a float16 copy cannot differ much from float32. On a fixed
# camera, before and after compare like with like.) The walkthrough rolls back.
step "13. Roll the canary back to the model it ran before (the device has it on disk: no download)"
run edgelabel-collector models rollback "$CANARY" --data-dir "$DIR"
wait_for "[[ \$(deployment_state $CANARY) == running ]]" 120 "$CANARY running its previous model again"
run edgelabel-collector models status --data-dir "$DIR"
echo "the canary's log:"
grep -h "model offer" "$WORK/$CANARY.log" | cut -c1-170

step "14. The canary's frames are pre-labeled by the previous model again: a third row in the field"
wait_for "(( \$(field_rows_of $CANARY) >= 3 ))" 120 "a frame from $CANARY by the previous model again"
review
run edgelabel-collector stats --data-dir "$DIR"
echo
echo "the collector's log, rollout lines:"
grep -h "deployment" "$WORK/serve.log" | cut -c1-170
