// Preloaded (`node --import`) into every walrelay process of `npm run bench -- --alloc-profile`: V8's
// sampling heap profiler over the process's whole life, objects collected by minor and major GCs
// included, so the profile says who allocated what (the young generation's scavenges are fed by
// all of it, not only by what is alive at exit). Written to
// $WALRELAY_PROFILE_DIR/Alloc.<pid>.allocprofile when the process exits; test/bench/profile-summary.ts
// summarises it. Plain JavaScript: the built binaries run without a TypeScript loader.
import inspector from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.WALRELAY_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  // One sample per 4 KB allocated on average: enough resolution for per-change costs of ~1 KB.
  session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  process.on('exit', () => {
    // The inspector answers on this thread: the callback runs before 'exit' returns.
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (!err && result) writeFileSync(path.join(dir, `Alloc.${process.pid}.allocprofile`), JSON.stringify(result.profile));
    });
  });
}
