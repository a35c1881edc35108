import { defineDlmSuite } from '../spec/dlm-suite.js';
import { definePosixSuite } from '../spec/posix-suite.js';
import { remoteHarness } from '../spec/remote.js';
import { defineWaitSuite } from '../spec/wait-suite.js';

defineDlmSuite('remote', remoteHarness);
defineWaitSuite('remote', remoteHarness);
definePosixSuite('remote', remoteHarness);
