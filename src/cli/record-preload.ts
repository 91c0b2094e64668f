/**
 * `syslet/profile`: record every syslet runtime a program makes, with no change to the program,
 * like `node --cpu-prof`:
 *
 *   node --import syslet/profile app.js
 *   SYSLET_PROFILE=out NODE_OPTIONS='--import syslet/profile' npm test
 *
 * Importing this module is what installs the recorder (record-collector.ts says what it records
 * and writes); nothing else imports it.
 */
import { isMainThread } from 'node:worker_threads';
import { installCollector } from './record-collector.js';

if (isMainThread) installCollector();
