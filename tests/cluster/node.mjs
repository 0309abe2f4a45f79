// One node of the test cluster: an Aedes broker whose messages reach the other nodes through
// mqemitter-redis and whose sessions (subscriptions, queued QoS 1 messages) live in Redis
// (aedes-persistence-redis), so a unit that moves to another node keeps its session.
//
//   node node.mjs <mqtt port> <redis port>
//
// Prints `listening <port>` once it accepts connections, and `client <id> <ms since the epoch>`
// for every client that connects (which node a unit is on, and when it came).
import net from 'node:net'
import { Aedes } from 'aedes'
import mqemitterRedis from 'mqemitter-redis'
import persistenceRedis from 'aedes-persistence-redis'

const [port, redisPort] = process.argv.slice(2).map(Number)
if (!port || !redisPort) {
  console.error('usage: node node.mjs <mqtt port> <redis port>')
  process.exit(2)
}
const redis = { host: '127.0.0.1', port: redisPort }
const broker = await Aedes.createBroker({
  id: `node-${port}`,
  mq: mqemitterRedis(redis),
  persistence: persistenceRedis(redis),
  // A frozen or vanished unit must not stall delivery to every other client.
  drainTimeout: 30000
})
broker.on('client', (client) => console.log(`client ${client.id} ${Date.now()}`))
const server = net.createServer(broker.handle)
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`))
