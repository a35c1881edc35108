import { defineDlmSuite } from '../spec/dlm-suite.js';
import { definePosixSuite } from '../spec/posix-suite.js';
import { remoteHarnessCached, remoteHarnessOn } from '../spec/remote.js';
import { defineWaitSuite } from '../spec/wait-suite.js';

// On each transport: the same protocol, the same behaviour.
for (const transport of ['ws', 'socket.io'] as const) {
  const harness = remoteHarnessOn(transport);
  defineDlmSuite(`remote (${transport})`, harness);
  defineWaitSuite(`remote (${transport})`, harness);
  definePosixSuite(`remote (${transport})`, harness);
}

// With cached grants on: the same behaviour, whatever the client keeps cached.
defineDlmSuite('remote, cached grants', remoteHarnessCached);
defineWaitSuite('remote, cached grants', remoteHarnessCached);
definePosixSuite('remote, cached grants', remoteHarnessCached);
