import { defineDlmSuite } from '../spec/dlm-suite.js';
import { localHarness } from '../spec/local.js';
import { definePosixSuite } from '../spec/posix-suite.js';
import { defineWaitSuite } from '../spec/wait-suite.js';

defineDlmSuite('in-process', localHarness);
defineWaitSuite('in-process', localHarness);
definePosixSuite('in-process', localHarness);
