// A cluster-aware client from another ecosystem: ioredis's Cluster, reading and writing keys
// over every slot until killed.
//
// Usage: node cluster.js PORT NAME [--slow]
//   --slow  20 commands a second instead of about 200, for runs with many clients
const Redis = require("ioredis");

const [port, name] = [Number(process.argv[2]), process.argv[3]];
const pause = process.argv.includes("--slow") ? 50 : 5;
const cluster = new Redis.Cluster([{ host: "127.0.0.1", port }], {
  redisOptions: { connectionName: name },
});
let i = 0;
cluster.on("ready", () => console.log("ready"));
cluster.on("error", (e) => console.log(`error: ${e.message}`));
async function loop() {
  for (;;) {
    const key = `key:${Math.floor(Math.random() * 10000)}`;
    try {
      if (i % 4 === 0) await cluster.set(key, String(i));
      else await cluster.get(key);
    } catch (e) {
      console.log(`error: ${e.message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    i += 1;
    await new Promise((r) => setTimeout(r, pause));
  }
}
loop();
