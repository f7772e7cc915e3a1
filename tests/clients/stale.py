"""A cluster client that keeps a stale slot map, the way Lettuce does with its defaults: it
reads CLUSTER SLOTS once, routes every key by that map, follows MOVED to the node it names,
and never updates its map.

Usage: stale.py PORT NAME
"""
import random
import sys
import time

import redis

port, name = int(sys.argv[1]), sys.argv[2]
conns = {}


def conn(host, port):
    key = (host, int(port))
    if key not in conns:
        conns[key] = redis.Redis(host=host, port=int(port), client_name=name, socket_timeout=2)
    return conns[key]


slots = [None] * 16384
for start, end, master, *_ in conn("127.0.0.1", port).execute_command("CLUSTER", "SLOTS"):
    host = master[0].decode() if isinstance(master[0], bytes) else master[0]
    for s in range(start, end + 1):
        slots[s] = (host, master[1])
seed = conn("127.0.0.1", port)
keys = [f"key:{i}" for i in range(2000)]
slot_of = {k: seed.execute_command("CLUSTER", "KEYSLOT", k) for k in keys}
print("ready", flush=True)
while True:
    key = random.choice(keys)
    try:
        conn(*slots[slot_of[key]]).get(key)
    except redis.exceptions.MovedError as e:
        try:
            conn(e.host, e.port).get(key)
        except redis.exceptions.RedisError:
            pass
    except redis.exceptions.RedisError:
        pass  # ASK or TRYAGAIN while a slot moves, a timeout: the next key is another try
    time.sleep(0.005)
