/**
 * `node --import syslet/register app.js`: install the threadlet interception before any other
 * module loads, so that functions captured at load time (`const { readFileSync } = require('fs')`,
 * `const read = fs.readFileSync`) are the intercepting wrappers too. Without it, interception is
 * installed when the first threadlet is defined, and only calls made through the module objects or
 * ESM named imports (kept in sync) are intercepted in code that was loaded before.
 */
import { installInterception } from './threadlet/intercept.js';

installInterception();
