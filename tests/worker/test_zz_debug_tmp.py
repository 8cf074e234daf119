"""TEMP debug (to delete)."""
import subprocess
import time

from worker_harness import WorkerEnv, wait_for


def snap(env, t0, label):
    r = env.redis
    keys = sorted(k.decode(errors="replace") for k in r.keys("*") if not k.startswith(b"celery-task-meta"))
    q = [k for k in keys if k.startswith("insitu.testorg")]
    out = {
        "t": round(time.monotonic() - t0, 2),
        "unacked": r.hlen("unacked"),
        "unacked_index": r.zrange("unacked_index", 0, -1, withscores=True),
        "queues": {k: r.llen(k) for k in q if r.type(k) == b"list"},
        "lock_pttl": r.pttl("insitu:joblock:mint-3000"),
        "rec": (lambda x: (x.state.value, x.attempts, x.owner) if x else None)(env.store.get("mint-3000")),
        "starts": env.starts(3000),
    }
    print(label, out, flush=True)


def test_debug(worker_env: WorkerEnv) -> None:
    env = worker_env
    amount = 3000
    env.mint(amount, {"sleep": 2.0})
    wait_for(lambda: env.starts(amount) == 1, 10, unit=env.unit)
    print(subprocess.run("ps -eo pid,pgid,ppid,stat,cmd | grep -E 'celery|PID' | grep -v grep", shell=True, capture_output=True, text=True).stdout)
    t0 = time.monotonic()
    snap(env, t0, "before kill")
    assert env.unit.kill("celery")
    snap(env, t0, "after kill")
    print(subprocess.run("ps -eo pid,pgid,ppid,stat,cmd | grep -E 'celery|PID' | grep -v grep", shell=True, capture_output=True, text=True).stdout)
    print(env.redis.hgetall("unacked"))
    env.unit.start(["celery"])
    snap(env, t0, "after start")
    for _ in range(40):
        time.sleep(0.5)
        snap(env, t0, "poll")
    print(subprocess.run("ps -eo pid,pgid,ppid,stat,cmd | grep -E 'celery|PID' | grep -v grep", shell=True, capture_output=True, text=True).stdout)
    print(env.unit.log_tail("celery", 60))
    print(env.redis.lrange("sample:started_at", 0, -1))
