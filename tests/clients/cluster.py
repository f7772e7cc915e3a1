"""A cluster-aware client: redis-py's RedisCluster, reading and writing keys over every slot
until killed. Errors while the cluster changes are retried by the library or printed.

Usage: cluster.py PORT NAME [--slow]
  --slow  20 commands a second instead of about 200, for runs with many clients
"""
import random
import sys
import time

from redis.cluster import RedisCluster

port, name = int(sys.argv[1]), sys.argv[2]
pause = 0.05 if "--slow" in sys.argv else 0.005
rc = RedisCluster(host="127.0.0.1", port=port, client_name=name, socket_timeout=2)
print("ready", flush=True)
i = 0
while True:
    key = f"key:{random.randrange(10000)}"
    try:
        if i % 4 == 0:
            rc.set(key, i)
        else:
            rc.get(key)
    except Exception as e:  # a failover can outlast the library's retries
        print(f"error: {e}", flush=True)
        time.sleep(0.1)
    i += 1
    time.sleep(pause)
