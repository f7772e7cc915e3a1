// A cluster client that keeps no slot map: go-redis v5 (Debian's golang-gopkg-redis.v5-dev)
// cannot parse the CLUSTER SLOTS reply of Redis 7 and later, so it sends every command to a
// random node it knows (every seed, replicas included) and follows MOVED. It reads and writes
// keys over every slot, about 30 commands a second, until killed. Its connections carry no
// name: go-redis v5 has no hook to name them.
//
// Usage: goredis5 ADDR[,ADDR...]
package main

import (
	"fmt"
	"math/rand"
	"os"
	"strings"
	"time"

	"gopkg.in/redis.v5"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goredis5 ADDR[,ADDR...]")
		os.Exit(2)
	}
	rc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:       strings.Split(os.Args[1], ","),
		ReadTimeout: 2 * time.Second,
	})
	fmt.Println("ready")
	for i := 0; ; i++ {
		key := fmt.Sprintf("key:%d", rand.Intn(10000))
		if i%4 == 0 {
			rc.Set(key, i, 0)
		} else {
			rc.Get(key)
		}
		time.Sleep(33 * time.Millisecond)
	}
}
