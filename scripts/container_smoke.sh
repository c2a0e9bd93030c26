#!/usr/bin/env bash
# Build the container image from the Dockerfile with podman and smoke-test it: serve, /healthz,
# one typed question answered over the websocket (text and audio), then stop and remove it.
# No registry is needed: the base image is built from Debian's packages with mmdebstrap when it
# is absent. Exits non-zero on any failure; every wait is bounded. Not part of `make test`.
#   scripts/container_smoke.sh                      build the base if absent, build, smoke
#   SKIP_BUILD=1 scripts/container_smoke.sh         smoke the image already built
#   WITH_LLAMA=1 IMAGE=localhost/streamrag:llama scripts/container_smoke.sh
#                                                   also compile llama.cpp in (~10 min); serve with
#                                                   --llm-backend llama (LLM_BACKEND overrides)
# Needs: podman, mmdebstrap (for the base), runc or crun, and the project's venv (the client).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/streamrag:latest}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian-python:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
WITH_LLAMA=${WITH_LLAMA:-0}
LLM_BACKEND=${LLM_BACKEND:-$([[ $WITH_LLAMA == 1 ]] && echo llama || echo extractive)}
PORT=${PORT:-18765}
QUESTION=${QUESTION:-who is the ceo of apple}
EXPECT=${EXPECT:-Tim Cook}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-180}
ANSWER_TIMEOUT=${ANSWER_TIMEOUT:-120}
PY=${PYTHON:-.venv/bin/python}
NAME=streamrag-smoke-$$

say() { printf '\033[1m[container]\033[0m %s\n' "$*"; }
die() { say "FAIL: $*"; exit 1; }

# Where the sandbox forbids what podman does by default (seen on a 2-core Debian 12 VM:
# crun refuses cgroup v1+v2 hybrid hosts; raising RLIMIT_NOFILE/NPROC needs CAP_SYS_RESOURCE),
# run with runc and limits no higher than this shell's. Override with PODMAN_RUN_FLAGS.
runtime=${CONTAINER_RUNTIME:-$(command -v runc >/dev/null && echo runc || echo crun)}
nofile=$(ulimit -n)
nproc=$(ulimit -u)
[[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
read -r -a run_flags <<<"${PODMAN_RUN_FLAGS:---runtime $runtime --network host --ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc}"

# A host that trusts extra CAs (a TLS-inspecting proxy) lends its bundle to the build's RUN steps
# only: the bind mount is not committed into the image.
build_mounts=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  build_mounts=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
fi

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  if ! podman image exists "$BASE_IMAGE"; then
    say "building $BASE_IMAGE from Debian's packages (mmdebstrap bookworm)"
    t0=$SECONDS
    nice -n 10 mmdebstrap --quiet --variant=apt --include=python3,python3-venv,ca-certificates \
      bookworm - "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
      "deb $SECURITY_MIRROR bookworm-security main" \
      | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    say "base image built in $((SECONDS - t0)) s"
  fi
  say "building $IMAGE (BASE=$BASE_IMAGE WITH_LLAMA=$WITH_LLAMA)"
  t0=$SECONDS
  nice -n 10 podman build --format docker "${run_flags[@]}" "${build_mounts[@]}" \
    --build-arg BASE="$BASE_IMAGE" --build-arg WITH_LLAMA="$WITH_LLAMA" -t "$IMAGE" .
  say "image built in $((SECONDS - t0)) s"
fi
podman image exists "$IMAGE" || die "no image $IMAGE (build it, or unset SKIP_BUILD)"
say "image $IMAGE: $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes"

# The typed question, asked by the project's own client (streaming/client/connection.py): the
# answer must come back as text naming EXPECT, and as audio.
CLIENT=$(cat <<'EOF'
import asyncio
import sys

from streaming.client.connection import VoiceClient


async def main(url: str, question: str, expect: str, timeout: float) -> int:
    async with VoiceClient(url) as client:
        log = await client.ask_text(question, timeout=timeout)
    done = log.of("answer_done")
    answer = done[-1]["text"] if done else ""
    metrics = (log.first("turn_metrics") or {}).get("metrics", {})
    print(f"answer: {answer!r}")
    print(f"answer audio: {len(log.audio) / 2 / 16000:.2f} s; source: {metrics.get('answer_source')}")
    if not answer or not log.audio:
        print("FAIL: no answer text or no answer audio")
        return 1
    if expect.lower() not in answer.lower():
        print(f"FAIL: the answer does not contain {expect!r}")
        return 1
    return 0


sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))))
EOF
)

containers=()
cleanup() {
  for c in "${containers[@]}"; do
    podman container exists "$c" 2>/dev/null || continue
    [[ ${ok:-0} == 1 ]] || { say "log of $c:"; podman logs --tail 40 "$c" 2>&1 || true; }
    podman rm -f -t 5 "$c" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# Without systemd podman cannot schedule the HEALTHCHECK timer (it logs errors even with
# --health-interval=disable): then the timer is off and the image's check is run once by hand.
health_flags=()
[[ -S /run/systemd/private ]] || health_flags=(--no-healthcheck)
image_healthcheck() {  # NAME: run the image's HEALTHCHECK command inside the container
  local test
  test=$(podman image inspect "$IMAGE" --format '{{json .Config.Healthcheck.Test}}')
  [[ $test == '["CMD-SHELL",'* ]] || die "the image has no shell-form HEALTHCHECK: $test"
  podman exec "$1" sh -c "$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])[1])' "$test")"
}

# wait_healthy NAME URL-GETTER...: poll /healthz (bounded) while the container runs
wait_healthy() {
  local name=$1 t0=$SECONDS
  shift
  while (( SECONDS - t0 < HEALTH_TIMEOUT )); do
    [[ $(podman inspect "$name" --format '{{.State.Running}}') == true ]] || die "$name exited"
    if health=$("$@" 2>/dev/null); then
      say "/healthz after $((SECONDS - t0)) s: $health"
      return 0
    fi
    sleep 1
  done
  die "no /healthz from $name within ${HEALTH_TIMEOUT} s"
}

# 1. On a loopback port of this host (host networking: no bridge needed in a sandbox), asked by
#    the client in the project's venv.
say "starting $NAME on 127.0.0.1:$PORT"
containers+=("$NAME")
podman run -d --name "$NAME" "${run_flags[@]}" "${health_flags[@]}" \
  -e STREAMRAG_HOST=127.0.0.1 -e STREAMRAG_PORT="$PORT" -e STREAMRAG_LLM_BACKEND="$LLM_BACKEND" \
  "$IMAGE" >/dev/null
wait_healthy "$NAME" curl -fsS --max-time 3 "http://127.0.0.1:$PORT/healthz"
image_healthcheck "$NAME" || die "the image's HEALTHCHECK failed"
say "the image's HEALTHCHECK passes"
say "typed question: $QUESTION"
"$PY" - "ws://127.0.0.1:$PORT/ws" "$QUESTION" "$EXPECT" "$ANSWER_TIMEOUT" <<<"$CLIENT"
t0=$SECONDS
podman stop -t 15 "$NAME" >/dev/null
code=$(podman inspect "$NAME" --format '{{.State.ExitCode}}')
(( code != 137 )) || die "the server ignored its stop signal (killed after 15 s)"
say "stopped in $((SECONDS - t0)) s (exit code $code)"

# 2. Offline: no network at all in the container; the same question asked from inside it, by the
#    image's own copy of the client. Everything it serves must already be in the image.
OFFLINE=$NAME-offline
say "starting $OFFLINE with --network none"
containers+=("$OFFLINE")
offline_flags=()
for f in "${run_flags[@]}"; do [[ $f == --network || $f == --network=* || $f == host ]] || offline_flags+=("$f"); done
podman run -d --name "$OFFLINE" "${offline_flags[@]}" "${health_flags[@]}" --network none \
  -e STREAMRAG_LLM_BACKEND="$LLM_BACKEND" "$IMAGE" >/dev/null
wait_healthy "$OFFLINE" podman exec "$OFFLINE" python -c \
  "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8765/healthz', timeout=3).read().decode())"
say "typed question, offline: $QUESTION"
podman exec -i "$OFFLINE" python - "ws://127.0.0.1:8765/ws" "$QUESTION" "$EXPECT" \
  "$ANSWER_TIMEOUT" <<<"$CLIENT"

ok=1
say "PASS: built, served, healthy, answered on a loopback port and offline; removing the containers"
