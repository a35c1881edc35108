import { defineDlmSuite } from '../spec/dlm-suite.js';
import { definePosixSuite } from '../spec/posix-suite.js';
import { remoteHarness, remoteHarnessCached } from '../spec/remote.js';
import { defineWaitSuite } from '../spec/wait-suite.js';

defineDlmSuite('remote', remoteHarness);
defineWaitSuite('remote', remoteHarness);
definePosixSuite('remote', remoteHarness);

// With cached grants on: the same behaviour, whatever the client keeps cached.
defineDlmSuite('remote, cached grants', remoteHarnessCached);
defineWaitSuite('remote, cached grants', remoteHarnessCached);
definePosixSuite('remote, cached grants', remoteHarnessCached);
