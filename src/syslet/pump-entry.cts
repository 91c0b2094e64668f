/**
 * The file piscina starts each worker with. piscina loads a worker's file with require() first;
 * requiring an ES module from CommonJS (Node 20.19+'s require(esm)) now and then crashed a worker,
 * and with it the process ("FATAL ERROR: v8::Module::IsGraphAsync must be used on an instantiated
 * module", a Node bug in require(esm)). This CommonJS entry loads the pump with import() instead.
 *
 * This file is loaded by path and never imported by caller-side code.
 */
const pump: Promise<{ default: (task: { op: 'ping' }) => unknown }> = import('./pump.js');

/** piscina's task handler: a control channel, never used per operation. */
module.exports = async function control(task: { op: 'ping' }): Promise<unknown> {
  return (await pump).default(task);
};
