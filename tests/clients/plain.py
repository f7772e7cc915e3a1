"""A client that is not cluster-aware: one redis.Redis connection to one node, GETs of keys
spread over every slot, errors (MOVED) ignored, as an application with a plain client does.

Usage: plain.py PORT NAME [--readonly] [--own-slots]
  --readonly   send READONLY first (a correct replica reader)
  --own-slots  only GET keys of slots the node's master owns (so READONLY reads succeed)
"""
import random
import sys
import time

import redis

port, name = int(sys.argv[1]), sys.argv[2]
readonly = "--readonly" in sys.argv
own_slots = "--own-slots" in sys.argv

r = redis.Redis(host="127.0.0.1", port=port, client_name=name, socket_timeout=2)
if readonly:
    r.execute_command("READONLY")
keys = [f"key:{i}" for i in range(10000)]
if own_slots:
    # The slots of the master this node is (or replicates), from its own view.
    mine = None
    for line in r.execute_command("CLUSTER", "NODES").decode().splitlines():
        f = line.split(" ")
        if "myself" in f[2]:
            mine = f[0] if "master" in f[2] else f[3]
    owned = set()
    for line in r.execute_command("CLUSTER", "NODES").decode().splitlines():
        f = line.split(" ")
        if f[0] == mine:
            for rng in f[8:]:
                if rng.startswith("["):
                    continue
                a, _, b = rng.partition("-")
                owned.update(range(int(a), int(b or a) + 1))
    keys = [k for k in keys if r.execute_command("CLUSTER", "KEYSLOT", k) in owned][:500]
print("ready", flush=True)
while True:
    try:
        r.get(random.choice(keys))
    except redis.exceptions.ResponseError:
        pass
    time.sleep(0.005)
