// The peer the receiver is compared with (issue 29): Express with node-redis, one EVALSHA of the
// same dedup-and-append script per request, the signature checked the same way, one Node process
// per core (node:cluster). Debian's node-express and node-redis packages; started by
// Benchmarks/receiver.sh with PORT, REDIS_URL, SECRET, PREFIX and WORKERS.
'use strict';
const cluster = require('node:cluster');
const crypto = require('node:crypto');
const express = require('express');
const { createClient } = require('redis');

const port = Number(process.env.PORT);
const workers = Number(process.env.WORKERS || 2);
const secret = process.env.SECRET;
const prefix = process.env.PREFIX || 'peer';
const script = `if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('SET', KEYS[1], id, 'EX', ARGV[1])
return id`;

if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const redis = createClient({ url: process.env.REDIS_URL });
  redis.connect().then(async () => {
    const sha = await redis.scriptLoad(script);
    const app = express();
    app.post('/webhooks/customerio', express.raw({ type: () => true, limit: '256kb' }), async (req, res) => {
      const timestamp = req.get('x-cio-timestamp');
      const signature = Buffer.from(req.get('x-cio-signature') || '', 'hex');
      const expected = crypto.createHmac('sha256', secret).update(`v0:${timestamp}:`).update(req.body).digest();
      if (!timestamp || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300 ||
          signature.length !== expected.length || !crypto.timingSafeEqual(signature, expected)) {
        return res.status(401).json({ error: 'invalid_signature' });
      }
      let event;
      try {
        event = JSON.parse(req.body);
      } catch (error) {
        return res.status(400).json({ error: 'malformed' });
      }
      try {
        const id = await redis.evalSha(sha, {
          keys: [`${prefix}:seen:${event.event_id}`, `${prefix}:events`],
          arguments: ['604800', 'body', req.body.toString('utf8'), 'ws', 'default', 'rt', String(Date.now()),
            't', event.object_type || '', 'm', event.metric || ''],
        });
        res.json({ status: id === null ? 'duplicate' : 'accepted' });
      } catch (error) {
        res.status(503).json({ error: 'unavailable' });
      }
    });
    app.listen(port, '127.0.0.1');
  });
}
