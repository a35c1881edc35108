// A lock holder in its own process, for the cluster tests: connects to the
// URL given, takes an EX lock on each resource named, prints one JSON line
// with the tokens, then holds until it is killed.
//   node holder.mjs URL TOKEN NAME DOMAIN RESOURCE...
import { connect } from '../../dist/client/index.js';

const [url, token, name, domain, ...resources] = process.argv.slice(2);
const client = await connect(url, { token, name });
const owner = client.owner(name);
const tokens = {};
for (const r of resources) tokens[r] = String((await owner.lock(domain, r, 'EX')).token);
process.stdout.write(`${JSON.stringify({ held: tokens })}\n`);
setInterval(() => {}, 1 << 30);
