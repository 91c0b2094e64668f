// `npm run bench`: the scenarios of `syslet bench` (src/bench/run.ts), from a checkout.
import { benchMain } from 'syslet/bench';

await benchMain(process.argv.slice(2));
